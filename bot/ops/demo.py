"""``scripts/flask demo-reset``: the demo's database and keys make way for production.

The demo (no Twilio credentials) encrypts under a key of its own, ``instance/demo-data-key``.
A database that key opens is the demo's; any other one this command leaves alone.
"""

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import vault
from ..config import DEMO_KEY_FILE, DEMO_TOKEN_FILE
from ..delivery.worker import SenderRunning, lock_path, take_sender_lock
from ..store import db


def made_by_demo(instance_path, database_path):
    """Whether the demo's own key opens this database."""
    try:
        with open(os.path.join(instance_path, DEMO_KEY_FILE), encoding="ascii") as fh:
            key = fh.read().strip()
    except FileNotFoundError:
        return False
    wrapped = db.wrapped_lookup_key(database_path) if os.path.exists(database_path) else None
    if not key or not wrapped:
        return False
    try:
        vault.unwrap_lookup_key(vault.parse_data_key(key), wrapped)
    except (vault.DataKeyError, ValueError):
        return False
    return True


@click.command("demo-reset")
@click.option("--yes", is_flag=True, help="Remove without asking first.")
@with_appcontext
def demo_reset_command(yes):
    """Remove the demo's database and keys, so that production starts with an empty database."""
    config = current_app.config
    path = config["DATABASE_PATH"]
    services = current_app.extensions.get("infokanal")
    if services is not None and not services.demo:
        raise click.ClickException(
            f"DATA_KEY opens {path}: it is this service's database now, not the demo's. "
            "Nothing was removed.")
    if not os.path.exists(path):
        click.echo(f"There is no database at {path}: nothing to reset.")
        return
    if not made_by_demo(current_app.instance_path, path):
        raise click.ClickException(
            f"{path} is not the demo's database (the demo's key, instance/{DEMO_KEY_FILE}, "
            "does not open it). Nothing was removed.")
    try:
        lock = take_sender_lock(config)
    except SenderRunning:
        raise click.ClickException(
            "The demo is still running (its sender holds the database): stop it first "
            "(Ctrl+C, or kill %1), then run this again.") from None
    try:
        if not yes:
            click.confirm(f"Remove the demo's database {path}, with everything the demo "
                          "stored, and the demo's keys?", abort=True)
        files = [path + side for side in ("", *db.SIDE_FILES)] + [lock_path(config)] + [
            os.path.join(current_app.instance_path, name)
            for name in (DEMO_KEY_FILE, DEMO_TOKEN_FILE)]
        for name in files:
            try:
                os.remove(name)
            except FileNotFoundError:
                pass
    finally:
        os.close(lock)
    click.echo("Removed the demo's database and keys. The next start creates an empty "
               "database under DATA_KEY.")


def init_app(app):
    app.cli.add_command(demo_reset_command)
