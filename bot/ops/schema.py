"""``flask --app wsgi init-db``: apply pending migrations by hand (every start does it too)."""

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from ..store.db import init_db


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create or migrate the database schema (the app also does this on start)."""
    path = current_app.config["DATABASE_PATH"]
    init_db(path, current_app.extensions["infokanal"].fernet)
    click.echo(f"Database ready: {os.path.abspath(path)}")


def init_app(app):
    app.cli.add_command(init_db_command)
