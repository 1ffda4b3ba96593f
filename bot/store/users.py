"""Press officer accounts for the console, and what each may do (its role).

Accounts exist only because an operator (or an admin in the console) created them; there is no
sign-up page. Passwords are kept as Werkzeug hashes and never leave this module in any other
form. Roles, from least to most: ``editor`` writes, previews, saves drafts and asks for
approval, and never sends; ``publisher`` also sends, cancels and approves; ``admin`` also
manages accounts and reads the audit trail.
"""

import hashlib
import re
import sqlite3

from werkzeug.security import check_password_hash, generate_password_hash

from .audit import RESERVED_ACTORS
from .db import now_iso

EDITOR, PUBLISHER, ADMIN = "editor", "publisher", "admin"
ROLES = (EDITOR, PUBLISHER, ADMIN)  # each may do everything the ones before it may
DEFAULT_ROLE = PUBLISHER
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
    if name.casefold() in RESERVED_ACTORS:
        # The audit trail names machines by these words; an account so named would pass for one.
        raise InvalidUser(f"the name {name!r} is reserved for the audit trail "
                          f"({', '.join(RESERVED_ACTORS)}); choose another")
    return name


def check_role(role):
    if role not in ROLES:
        raise InvalidUser(f"the role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def at_least(role, needed):
    """Whether an account with ``role`` may do what ``needed`` may."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_password(password):
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUser(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


def add(conn, name, password, role=DEFAULT_ROLE):
    check_name(name)
    check_password(password)
    check_role(role)
    try:
        conn.execute("INSERT INTO users (name, password_hash, created_at, role) "
                     "VALUES (?, ?, ?, ?)",
                     (name, generate_password_hash(password), now_iso(), role))
    except sqlite3.IntegrityError:
        raise UserExists(name) from None


def set_role(conn, name, role):
    """Give NAME another role; returns the one it had. Its sessions stay open with the new
    role from the next request on (the role is read on every request)."""
    check_role(role)
    row = conn.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise UserNotFound(name)
    conn.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))
    return row[0]


def role_of(conn, name):
    row = conn.execute("SELECT role FROM users WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def exists(conn, name):
    return conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is not None


def count_admins(conn):
    return conn.execute("SELECT count(*) FROM users WHERE role = 'admin'").fetchone()[0]


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
    return [dict(name=row[0], created_at=row[1], role=row[2]) for row in
            conn.execute("SELECT name, created_at, role FROM users ORDER BY name")]


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
    """(name, stamp, role) of a user, or None when the account no longer exists."""
    row = conn.execute("SELECT name, password_hash, role FROM users WHERE id = ?",
                       (user_id,)).fetchone()
    return None if row is None else (row[0], session_stamp(row[1]), row[2])
