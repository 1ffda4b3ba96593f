"""``flask --app wsgi backup PATH``: a consistent copy of the database, atomically; into a
folder, with the copies older than ``BACKUP_KEEP_DAYS`` removed."""

import sqlite3
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..store.backup import BackupError, backup, backup_into
from .audit import record


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path())
@click.option("--force", is_flag=True, help="Replace PATH if it exists (a file name only).")
def backup_command(path, force):
    """Write a consistent copy of the database to PATH, while the service runs.

    PATH is a file name, or a folder: then the copy is named by the moment it is taken
    (infokanal-2026-12-06T031500Z.db, UTC), and this command's copies in the folder older than
    BACKUP_KEEP_DAYS are removed afterwards; no other file there is touched.
    """
    source = current_app.config["DATABASE_PATH"]
    keep_days = current_app.config["BACKUP_KEEP_DAYS"]
    removed, failed = [], []
    try:
        if Path(path).is_dir():
            written, removed, failed = backup_into(source, path, keep_days)
        else:
            written = backup(source, path, force=force)
    except (BackupError, sqlite3.Error, OSError) as exc:
        raise click.ClickException(f"No backup written: {exc}") from None
    details = {"file": written.name, "bytes": written.stat().st_size}
    if removed:
        details["removed"] = len(removed)
    record("backup", details=details)
    click.echo(f"Backup written to {written} ({written.stat().st_size} bytes). It opens only "
               "with the DATA_KEY in use now: keep the key, apart from the backup.")
    if removed:
        click.echo(f"Removed {len(removed)} older copies (more than {keep_days:g} days old, "
                   "BACKUP_KEEP_DAYS): " + ", ".join(path.name for path in removed))
    if failed:
        # The new copy is there; the exit status tells cron or systemd that the folder grows.
        raise click.ClickException(
            "The backup was written, but these older copies could not be removed: "
            + "; ".join(f"{path.name} ({exc.strerror or exc})" for path, exc in failed))


def init_app(app):
    app.cli.add_command(backup_command)
