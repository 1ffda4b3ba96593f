"""Press officer accounts for the console, and the operator's ``users`` commands.

Accounts exist only because an operator created them on the server; there is no sign-up page.
Passwords are kept as Werkzeug hashes and never leave this module in any other form.
"""

import hashlib
import re
import sqlite3
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from werkzeug.security import check_password_hash, generate_password_hash

from .db import connect, now_iso, write

MIN_PASSWORD_LENGTH = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# Compared against when the name is unknown, so that a wrong name costs as much time as a wrong
# password and the response time does not tell which names exist.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class InvalidUser(Exception):
    """The name or password cannot be used; the message says why."""


class UserExists(Exception):
    pass


class UserNotFound(Exception):
    pass


def check_name(name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidUser("the name must be 1 to 64 letters, digits, '.', '_', '@' or '-', "
                          "starting with a letter or digit")
    return name


def check_password(password):
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUser(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


def add(conn, name, password):
    check_name(name)
    check_password(password)
    try:
        conn.execute("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)",
                     (name, generate_password_hash(password), now_iso()))
    except sqlite3.IntegrityError:
        raise UserExists(name) from None


def set_password(conn, name, password):
    check_password(password)
    cursor = conn.execute("UPDATE users SET password_hash = ? WHERE name = ?",
                          (generate_password_hash(password), name))
    if cursor.rowcount == 0:
        raise UserNotFound(name)


def remove(conn, name):
    if conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
        raise UserNotFound(name)


def names(conn):
    return [dict(name=row[0], created_at=row[1]) for row in
            conn.execute("SELECT name, created_at FROM users ORDER BY name")]


def authenticate(conn, name, password):
    """The user's id when name and password match, else None."""
    row = conn.execute("SELECT id, password_hash FROM users WHERE name = ?",
                       (name,)).fetchone()
    if row is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return row[0] if check_password_hash(row[1], password) else None


def session_stamp(password_hash):
    """A short fingerprint of the password hash kept in the session cookie: a new password or
    a removed account ends every session that was opened before."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def load(conn, user_id):
    """(name, stamp) of a user, or None when the account no longer exists."""
    row = conn.execute("SELECT name, password_hash FROM users WHERE id = ?",
                       (user_id,)).fetchone()
    return None if row is None else (row[0], session_stamp(row[1]))


# --- commands --------------------------------------------------------------------------------

users_cli = AppGroup("users", help="Manage press officer accounts for the web console.")


def _read_password(from_stdin):
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        return check_password(password)
    except InvalidUser as exc:
        raise click.ClickException(str(exc)) from None


def _database():
    return connect(current_app.config["DATABASE_PATH"])


@users_cli.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
def add_command(name, password_stdin):
    """Create an account NAME; asks for the password twice (hidden)."""
    try:
        check_name(name)
    except InvalidUser as exc:
        raise click.ClickException(str(exc)) from None
    password = _read_password(password_stdin)
    database = _database()
    try:
        with write(database) as conn:
            add(conn, name, password)
    except UserExists:
        raise click.ClickException(f"an account named {name!r} exists already") from None
    finally:
        database.conn.close()
    click.echo(f"Account {name} created. Sign in at /admin.")


@users_cli.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from the first line of standard input.")
def password_command(name, password_stdin):
    """Set a new password for NAME; signs out every open session of NAME."""
    password = _read_password(password_stdin)
    database = _database()
    try:
        with write(database) as conn:
            set_password(conn, name, password)
    except UserNotFound:
        raise click.ClickException(f"no account named {name!r}") from None
    finally:
        database.conn.close()
    click.echo(f"Password of {name} changed.")


@users_cli.command("remove")
@click.argument("name")
def remove_command(name):
    """Delete the account NAME; its open sessions end with the next request."""
    database = _database()
    try:
        with write(database) as conn:
            remove(conn, name)
    except UserNotFound:
        raise click.ClickException(f"no account named {name!r}") from None
    finally:
        database.conn.close()
    click.echo(f"Account {name} removed.")


@users_cli.command("list")
def list_command():
    """Show the accounts (names and creation dates, never passwords)."""
    database = _database()
    try:
        accounts = names(database.conn)
    finally:
        database.conn.close()
    if not accounts:
        click.echo("No accounts yet. Create one: flask --app wsgi users add NAME")
    for account in accounts:
        click.echo(f"{account['name']}\t{account['created_at'][:10]}")


def init_app(app):
    app.cli.add_command(users_cli)
