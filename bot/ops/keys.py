"""``flask --app wsgi keys new`` and ``keys rotate``: the life of DATA_KEY."""

import click
from flask import current_app
from flask.cli import AppGroup

from .. import vault
from ..store.keys import BATCH_SIZE, rotate
from . import database
from .audit import record


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
        "'scripts/flask keys rotate'.", err=True)


@keys_group.command("rotate")
@click.option("--batch-size", default=BATCH_SIZE, show_default=True,
              help="Rows re-encrypted per transaction.")
def rotate_command(batch_size):
    """Re-encrypt all stored numbers under the first key in DATA_KEY."""
    data_key = current_app.config.get("DATA_KEY")
    if not data_key or "infokanal" not in current_app.extensions:
        raise click.ClickException("DATA_KEY is not set; there is nothing to rotate to.")
    with database() as db:
        report = rotate(db, data_key, batch_size=max(1, batch_size))
    record("keys_rotated", details={"rotated": report.rotated, "current": report.current,
                                    "unreadable": report.unreadable, "keys": report.keys,
                                    "lookup_rewrapped": report.lookup_rewrapped})
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
                   "DATA_KEY=<new>,<current> (see 'scripts/flask keys new').")


def init_app(app):
    app.cli.add_command(keys_group)
