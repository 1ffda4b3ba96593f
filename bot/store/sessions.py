"""Console sign-ins: the sessions still open, and the failed attempts that lock sign-in.

A session cookie counts only while its row exists, so sign-out (which deletes it) ends it on
the server, not only in the browser. Failures are counted in the database, not in memory, so
every gunicorn worker sees the same count. Both are keyed by hashes: of the random session id,
and (made by the caller, with a key) of the account name and the client address.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from .db import now_iso


def _id_hash(session_id):
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(conn, user_id, hours):
    """A new session for the user, lasting ``hours``; returns its random id (for the cookie)."""
    session_id = secrets.token_urlsafe(32)
    close_expired(conn)
    conn.execute("INSERT INTO console_sessions (id_hash, user_id, ends_at) VALUES (?, ?, ?)",
                 (_id_hash(session_id), user_id, now_iso(hours * 3600)))
    return session_id


def is_open(conn, session_id, user_id):
    if not isinstance(session_id, str) or not session_id:
        return False
    return conn.execute(
        "SELECT 1 FROM console_sessions WHERE id_hash = ? AND user_id = ? AND ends_at > ?",
        (_id_hash(session_id), user_id, now_iso())).fetchone() is not None


def close(conn, session_id):
    conn.execute("DELETE FROM console_sessions WHERE id_hash = ?", (_id_hash(session_id),))


def close_all(conn, user_id):
    """End every session of the user (a new password); returns how many were open."""
    return conn.execute("DELETE FROM console_sessions WHERE user_id = ? AND ends_at > ?",
                        (user_id, now_iso())).rowcount


def close_expired(conn):
    """Forget sessions past their end; returns how many."""
    return conn.execute("DELETE FROM console_sessions WHERE ends_at < ?",
                        (now_iso(),)).rowcount


def locked_until(conn, keys, limit, window_seconds):
    """When the lock of the most restricted key ends (``limit`` failures within the window),
    or None when none is locked."""
    cutoff = now_iso(-window_seconds)
    latest_unlock = None
    for key in keys:
        rows = conn.execute("SELECT at FROM signin_failures WHERE key = ? AND at > ? "
                            "ORDER BY at DESC LIMIT ?", (key, cutoff, limit)).fetchall()
        if len(rows) >= limit:
            oldest = datetime.fromisoformat(rows[-1][0].replace("Z", "+00:00"))
            unlock = oldest + timedelta(seconds=window_seconds)
            latest_unlock = unlock if latest_unlock is None else max(latest_unlock, unlock)
    return latest_unlock


def record_attempt(conn, keys, window_seconds):
    """Count an attempt as failed until its password proves right; returns the row ids."""
    now = now_iso()
    conn.execute("DELETE FROM signin_failures WHERE at < ?", (now_iso(-window_seconds),))
    return [conn.execute("INSERT INTO signin_failures (key, at) VALUES (?, ?) RETURNING id",
                         (key, now)).fetchone()[0] for key in keys]


def take_back(conn, attempt):
    """The attempt proved right: its rows no longer count as failures."""
    conn.execute(f"DELETE FROM signin_failures WHERE id IN ({', '.join('?' * len(attempt))})",
                 attempt)
