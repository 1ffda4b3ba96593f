"""``flask --app wsgi keys new`` and ``keys rotate``: the life of DATA_KEY.

Rotation never stops the webhook: the operator first puts the new key in front
(``DATA_KEY=new,old``) and reloads the web workers, so both keys decrypt and new rows are
already written under the new key. ``keys rotate`` then re-encrypts the remaining rows in short
transactions, so a webhook waits at most one batch for the write lock.
"""

import time
from dataclasses import dataclass

import click
from cryptography.fernet import InvalidToken, MultiFernet
from flask import current_app
from flask.cli import AppGroup

from . import vault
from .db import connect, write

BATCH_SIZE = 500
# Between batches the lock is free for a moment, so that waiting webhooks get their turn
# instead of racing a rotation that re-takes the lock at once.
PAUSE_SECONDS = 0.005


@dataclass
class RotationReport:
    keys: int
    rotated: int = 0
    current: int = 0
    unreadable: int = 0
    lookup_rewrapped: bool = False


def rotate(conn, data_key, batch_size=BATCH_SIZE, pause_seconds=PAUSE_SECONDS):
    """Re-encrypt every phone number and the wrapped lookup key under the newest key.

    ``conn`` is a connection (or sqlite-utils Database) that holds no transaction. Rows
    already under the newest key are left alone, so running it twice is harmless. Rows that no
    key in ``data_key`` opens are counted as unreadable and left as they are.
    """
    keys = vault.split_data_key(data_key)
    newest, every_key = keys[0], MultiFernet(keys)
    report = RotationReport(keys=len(keys))
    with write(conn) as tx:
        wrapped = tx.execute("SELECT value FROM app_keys WHERE name = 'lookup'").fetchone()[0]
        if not vault.opens(newest, wrapped):
            tx.execute("UPDATE app_keys SET value = ? WHERE name = 'lookup'",
                       (every_key.rotate(wrapped.encode("ascii")).decode("ascii"),))
            report.lookup_rewrapped = True
    last_id = 0
    while True:
        with write(conn) as tx:
            rows = tx.execute("SELECT id, phone_enc FROM subscribers WHERE id > ? ORDER BY id "
                              "LIMIT ?", (last_id, batch_size)).fetchall()
            updates = []
            for subscriber_id, token in rows:
                if vault.opens(newest, token):
                    report.current += 1
                    continue
                try:
                    fresh = every_key.rotate(token.encode("ascii")).decode("ascii")
                except InvalidToken:
                    report.unreadable += 1
                    continue
                updates.append((fresh, subscriber_id))
            tx.executemany("UPDATE subscribers SET phone_enc = ? WHERE id = ?", updates)
            report.rotated += len(updates)
        if len(rows) < batch_size:
            return report
        last_id = rows[-1][0]
        time.sleep(pause_seconds)


@click.group("keys", cls=AppGroup)
def keys_group():
    """Create and rotate DATA_KEY, the key that encrypts phone numbers at rest."""


@keys_group.command("new")
def new_command():
    """Print a fresh DATA_KEY line (to stdout only; it is never logged)."""
    click.echo(f"DATA_KEY={vault.new_key()}")
    click.echo(
        "Put this line into .env (or the service's environment) and keep a copy somewhere "
        "safe, apart from the backups: without it the phone numbers cannot be read.\n"
        "To replace a key that is in use, do not swap it: put the new key in front, "
        "DATA_KEY=<new>,<current>, reload the web workers, then run "
        "'flask --app wsgi keys rotate'.", err=True)


@keys_group.command("rotate")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True,
              help="Rows re-encrypted per transaction.")
def rotate_command(batch_size):
    """Re-encrypt all stored numbers under the first key in DATA_KEY."""
    data_key = current_app.config.get("DATA_KEY")
    if not data_key or "infokanal" not in current_app.extensions:
        raise click.ClickException("DATA_KEY is not set; there is nothing to rotate to.")
    database = connect(current_app.config["DATABASE_PATH"])
    try:
        report = rotate(database, data_key, batch_size=max(1, batch_size))
    finally:
        database.conn.close()
    click.echo(f"Re-encrypted {report.rotated} numbers under the first key; "
               f"{report.current} were already under it.")
    click.echo("Lookup key re-wrapped." if report.lookup_rewrapped
               else "Lookup key was already wrapped under the first key.")
    if report.unreadable:
        raise click.ClickException(
            f"{report.unreadable} numbers open with none of the keys in DATA_KEY and were left "
            "as they are. Keep every old key until this is resolved.")
    if report.keys > 1:
        click.echo("Every number is now under the first key: you can set DATA_KEY to the first "
                   "key alone and restart web and worker. Keep the old key as long as you keep "
                   "backups taken before now; they still need it.")
    else:
        click.echo("DATA_KEY holds one key. To rotate, put a new key in front first: "
                   "DATA_KEY=<new>,<current> (see 'flask --app wsgi keys new').")


def init_app(app):
    app.cli.add_command(keys_group)
