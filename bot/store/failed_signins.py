"""Failed console sign-ins in the audit trail: one entry per account name and client address
per window, with how many attempts failed, never one entry per attempt.

A window opens with the first failure of a name from an address and lasts
``SIGNIN_LOCK_MINUTES`` (the time a failure counts towards the lock). While it is open, its
counts live in ``signin_failure_windows``; when it has ended, the next thing that looks
(a sign-in attempt, the audit page, ``audit verify``/``export``, the daily cleanup) writes its
one entry into the audit trail and forgets the row. A successful sign-in from the address ends
that address's windows at once, so the trail reads in order: failed twice, then signed in.

The entry is written at the end, with the final counts, rather than at the start with a count
kept beside the chain: a count outside the chain could be changed without breaking it, and the
data protection officer's "someone tried 4,000 times" is exactly what must be tamper-evident.
Until then the open windows are shown on the audit page from this table.

Attempts refused while sign-in is locked only add to a count here: a flood of guesses costs
the trail one entry per name and address every ``SIGNIN_LOCK_MINUTES``. A name that is no
account's is not written down (it may be a password typed into the wrong field): its attempts
are counted under ``unknown``, per address. Nor does the entry keep anything of the address
(not even its keyed hash): the trail is kept for years, the address is needed only while the
window counts. The audit page shows a short part of its hash for the open windows, to tell
one source from another.
"""

from . import audit
from .db import now_iso, to_iso

UNKNOWN = "unknown"
ACTION = "signin_failed"
# An attacker who changes address with every guess (an IPv6 prefix holds billions) would open a
# window, and so leave an entry, per guess. Beyond this many open windows, a name's further
# addresses share one window, whose entry says so.
MAX_OPEN_WINDOWS = 100
MANY = "*"


def count(conn, actor, address, reason, window_seconds, locked=False):
    """Count one failed attempt of ``actor`` (an account name, or ``unknown``) from
    ``address`` (a keyed hash); the caller holds the write transaction."""
    now = now_iso()
    row = conn.execute("SELECT id FROM signin_failure_windows WHERE actor = ? AND address = ? "
                       "AND ends_at > ? ORDER BY ends_at DESC LIMIT 1",
                       (actor, address, now)).fetchone()
    if row is None and address != MANY and conn.execute(
            "SELECT count(*) FROM signin_failure_windows WHERE ends_at > ?",
            (now,)).fetchone()[0] >= MAX_OPEN_WINDOWS:
        return count(conn, actor, MANY, reason, window_seconds, locked)
    if row is None:
        ends = now_iso(window_seconds)
        conn.execute("INSERT INTO signin_failure_windows (actor, address, started_at, ends_at, "
                     "last_at, reason, attempts, locked) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                     (actor, address, now, ends, now, reason, int(locked)))
    else:
        conn.execute("UPDATE signin_failure_windows SET attempts = attempts + 1, "
                     "locked = locked + ?, last_at = ? WHERE id = ?",
                     (int(locked), now, row[0]))


_COLUMNS = "id, actor, address, started_at, last_at, reason, attempts, locked"


def _write(conn, rows):
    for window_id, actor, address, started, last, reason, attempts, locked in rows:
        details = {
            # Every attempt refused in the window; of them, those refused unchecked because
            # sign-in was locked.
            "attempts": attempts, "locked": locked,
            "reason": "locked" if attempts == locked else reason,
            "first": started, "last": last}
        if address == MANY:
            details["many_addresses"] = True
        audit.record(conn, actor, ACTION, None if actor == UNKNOWN else actor, details)
        conn.execute("DELETE FROM signin_failure_windows WHERE id = ?", (window_id,))
    return len(rows)


def close_due(conn, now=None, limit=500):
    """Write the entries of windows that have ended (at most ``limit``); the caller holds the
    write transaction. Returns how many."""
    conn = getattr(conn, "conn", conn)
    cutoff = to_iso(now) if now is not None else now_iso()
    return _write(conn, conn.execute(
        f"SELECT {_COLUMNS} FROM signin_failure_windows WHERE ends_at <= ? ORDER BY id "
        "LIMIT ?", (cutoff, limit)).fetchall())


def close_address(conn, address):
    """A sign-in from ``address`` succeeded: its windows end now, in the order they opened."""
    return _write(conn, conn.execute(
        f"SELECT {_COLUMNS} FROM signin_failure_windows WHERE address = ? ORDER BY id",
        (address,)).fetchall())


def open_windows(conn, limit=50):
    """Windows still counting, newest first, for the audit page."""
    conn = getattr(conn, "conn", conn)
    rows = conn.execute(
        "SELECT actor, started_at, ends_at, last_at, attempts, locked, address FROM "
        "signin_failure_windows ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [dict(zip(("actor", "first", "ends", "last", "attempts", "locked"), row[:6]),
                 source=None if row[6] == MANY else row[6].removeprefix("ip:")[:8])
            for row in rows]
