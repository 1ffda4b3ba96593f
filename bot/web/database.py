"""The request's database connection: one per thread, kept between requests.

Opening a SQLite connection in WAL mode costs more (about 0.6 ms here) than the whole
webhook's work on it, so each gunicorn thread keeps its own instead of opening one per
request. Keyed by process too, so a fork never shares a connection.
"""

import os
import threading

from flask import current_app, g

from ..store.db import connect

_local = threading.local()


def get_db():
    key = (os.getpid(), current_app.config["DATABASE_PATH"])
    cache = getattr(_local, "databases", None)
    if cache is None:
        cache = _local.databases = {}
    database = cache.get(key)
    if database is None:
        database = cache[key] = connect(key[1])
    g.db = database
    return database


def close_db(exc=None):
    """End of request: never leave a transaction open on the kept connection."""
    database = g.pop("db", None)
    if database is not None and database.conn.in_transaction:
        database.conn.rollback()


def init_app(app):
    app.teardown_appcontext(close_db)
