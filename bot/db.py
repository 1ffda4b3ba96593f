"""The SQLite database: connections, schema, the lookup key, and the ``init-db`` command.

Views and the sender never open connections themselves: the web side calls ``get_db()`` (one
connection per request, closed on teardown), the sender calls ``connect()`` once.
"""

import contextlib
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import sqlite_utils
from flask import current_app, g

from . import vault

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.sql"
BUSY_TIMEOUT_MS = 10_000


def now_iso(delta_seconds=0):
    """UTC time as a fixed-width ISO string, so that text comparison is time comparison."""
    moment = datetime.now(timezone.utc) + timedelta(seconds=delta_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_iso(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def connect(path):
    """Open the database as a sqlite-utils Database; ``.conn`` is the plain connection."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


@contextlib.contextmanager
def write(db):
    """A short write transaction that takes the write lock up front.

    ``BEGIN IMMEDIATE`` waits (busy timeout) for the lock instead of failing half-way through
    the way a deferred transaction upgrading from read to write can, which matters when many
    gunicorn workers write at once. Takes a sqlite-utils Database or a plain connection.
    """
    conn = getattr(db, "conn", db)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    else:
        conn.commit()


def init_db(path, fernet):
    """Create or migrate the schema and the wrapped lookup key; safe to run concurrently.

    Returns the lookup key (raw bytes).
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = connect(path)
    try:
        db.conn.execute("PRAGMA journal_mode = WAL")
        with write(db) as conn:
            for statement in _statements(SCHEMA_PATH.read_text(encoding="utf-8")):
                conn.execute(statement)
            row = conn.execute("SELECT value FROM app_keys WHERE name = 'lookup'").fetchone()
            if row is None:
                wrapped = vault.wrap_lookup_key(fernet, vault.new_lookup_key())
                conn.execute("INSERT INTO app_keys (name, value) VALUES ('lookup', ?)",
                             (wrapped,))
            else:
                wrapped = row[0]
        return vault.unwrap_lookup_key(fernet, wrapped)
    finally:
        db.conn.close()


def _statements(script):
    """Split schema.sql into statements (executescript would commit our transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""


def get_db():
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE_PATH"])
    return g.db


def close_db(exc=None):
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


@click.command("init-db")
def init_db_command():
    """Create or migrate the database schema (the app also does this on start)."""
    from flask import current_app as app

    init_db(app.config["DATABASE_PATH"], app.extensions["infokanal"].fernet)
    click.echo(f"Database ready: {os.path.abspath(app.config['DATABASE_PATH'])}")


def init_app(app):
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
