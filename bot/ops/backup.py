"""``flask --app wsgi backup PATH``: a consistent copy of the database, atomically."""

import sqlite3

import click
from flask import current_app
from flask.cli import with_appcontext

from ..store.backup import BackupError, backup
from .audit import record


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def backup_command(path, force):
    """Write a consistent copy of the database to PATH, while the service runs."""
    try:
        written = backup(current_app.config["DATABASE_PATH"], path, force=force)
    except (BackupError, sqlite3.Error) as exc:
        raise click.ClickException(f"No backup written: {exc}") from None
    record("backup", details={"file": written.name, "bytes": written.stat().st_size})
    click.echo(f"Backup written to {written} ({written.stat().st_size} bytes). It opens only "
               "with the DATA_KEY in use now: keep the key, apart from the backup.")


def init_app(app):
    app.cli.add_command(backup_command)
