"""Operator commands (``flask --app wsgi …``): a thin layer over functions tests call directly.

One module per concern; each registers its commands in ``init_app``. Nothing here is imported
by the web, the domain, storage or the sender.
"""

import click
from flask import current_app

from ..store import lease
from ..store.db import opened


def database():
    """The app's database for one command, closed when the command is done with it."""
    return opened(current_app.config["DATABASE_PATH"])


def refuse_when_replaced():
    """A command that would change something stops on a machine a failover replaced: what it
    wrote would exist only in a database nobody sends from or copies."""
    by = lease.replaced_by(current_app.config["DATABASE_PATH"])
    if by is not None:
        raise click.ClickException(
            f"this machine was replaced in a failover by {by['owner']} ({by['at'][:16]} UTC): "
            "it takes no changes any more. Run this on the new primary.")


def init_app(app):
    from . import (audit, backup, cleanup, costs, demo, keys, privacy, replica, schema, sending,
                   users)

    for module in (schema, sending, users, keys, privacy, cleanup, backup, audit, costs, demo,
                   replica):
        module.init_app(app)
