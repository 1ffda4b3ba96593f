"""Operator commands (``flask --app wsgi …``): a thin layer over functions tests call directly.

One module per concern; each registers its commands in ``init_app``. Nothing here is imported
by the web, the domain, storage or the sender.
"""

from flask import current_app

from ..store.db import opened


def database():
    """The app's database for one command, closed when the command is done with it."""
    return opened(current_app.config["DATABASE_PATH"])


def init_app(app):
    from . import (audit, backup, cleanup, costs, demo, keys, privacy, replica, schema, sending,
                   users)

    for module in (schema, sending, users, keys, privacy, cleanup, backup, audit, costs, demo,
                   replica):
        module.init_app(app)
