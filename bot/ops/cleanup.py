"""``flask --app wsgi cleanup``: apply the retention rules now."""

import click
from flask import current_app
from flask.cli import with_appcontext

from ..store.retention import cleanup
from . import database


@click.command("cleanup")
@with_appcontext
def cleanup_command():
    """Apply the retention rules now (the worker also does this daily)."""
    with database() as db:
        counts = cleanup(db, current_app.config)
    for name, number in counts.items():
        click.echo(f"{name}: {number}")


def init_app(app):
    app.cli.add_command(cleanup_command)
