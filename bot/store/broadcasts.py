"""Broadcasts: the rows the press office writes, and what became of them, counted.

A broadcast is a row with a status; every recipient is a delivery row (``deliveries``, the
sender's queue). What the platform reports later lands in ``message_status`` (by message id)
and is joined in when counting. Validation of what a broadcast may say is the domain's
(``domain.announcements``); nothing here knows Flask or Twilio.
"""

from .db import now_iso

# Every status a broadcast can have (schema.sql's CHECK holds the same list).
STATUSES = ("scheduled", "queued", "sending", "paused", "done", "cancelled")
ACTIVE = ("queued", "sending")
OPEN = ("scheduled", "queued", "sending", "paused")
COUNT_KEYS = ("queued", "sent", "delivered", "read", "failed", "skipped")

# SQLite stores integers in 64 bits; a larger id cannot name a row (and would overflow).
SQLITE_INT_MAX = 2 ** 63 - 1


class BroadcastNotFound(Exception):
    pass


class BroadcastClosed(Exception):
    """The broadcast is already done or cancelled."""


def create(conn, text, media_url=None, send_at=None, expires_at=None, urgent=False,
           created_by=None):
    """Write a broadcast; unless scheduled, also one delivery per active subscriber.

    Returns (id, status, recipients). The caller holds the write transaction, so the broadcast
    and all its deliveries become durable together.
    """
    now = now_iso()
    scheduled = send_at is not None and send_at > now
    status = "scheduled" if scheduled else "queued"
    broadcast_id = conn.execute(
        "INSERT INTO broadcasts (text, media_url, status, urgent, created_at, send_at, "
        "expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (text, media_url, status, int(bool(urgent)), now, send_at, expires_at, created_by),
    ).fetchone()[0]
    if scheduled:
        recipients = conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]
    else:
        recipients = materialize(conn, broadcast_id)
    conn.execute("UPDATE broadcasts SET recipients = ? WHERE id = ?", (recipients, broadcast_id))
    return broadcast_id, status, recipients


def materialize(conn, broadcast_id):
    """One delivery per active subscriber, in one ``INSERT … SELECT``; returns how many."""
    cursor = conn.execute(
        "INSERT INTO deliveries (broadcast_id, subscriber_id) "
        "SELECT ?, id FROM subscribers ORDER BY id", (broadcast_id,))
    return cursor.rowcount


def _row(conn, columns, broadcast_id):
    """The broadcast's row; BroadcastNotFound also for ids no SQLite row can have (web routes
    hand over whatever digits were in the URL)."""
    if not (isinstance(broadcast_id, int)
            and -SQLITE_INT_MAX - 1 <= broadcast_id <= SQLITE_INT_MAX):
        raise BroadcastNotFound(broadcast_id)
    row = conn.execute(f"SELECT {columns} FROM broadcasts WHERE id = ?",
                       (broadcast_id,)).fetchone()
    if row is None:
        raise BroadcastNotFound(broadcast_id)
    return row


def _status_of(conn, broadcast_id):
    return _row(conn, "status", broadcast_id)[0]


def cancel(conn, broadcast_id):
    status = _status_of(conn, broadcast_id)
    if status not in OPEN:
        raise BroadcastClosed(status)
    conn.execute("UPDATE deliveries SET state = 'skipped', error_code = 'cancelled' "
                 "WHERE broadcast_id = ? AND state = 'queued'", (broadcast_id,))
    conn.execute("UPDATE broadcasts SET status = 'cancelled', finished_at = ? WHERE id = ?",
                 (now_iso(), broadcast_id))


def resume(conn, broadcast_id):
    """Resume a paused broadcast by hand (after the operator fixed the credentials)."""
    status = _status_of(conn, broadcast_id)
    if status != "paused":
        raise BroadcastClosed(status)
    conn.execute("UPDATE broadcasts SET status = 'sending', pause_reason = NULL, "
                 "resume_at = NULL WHERE id = ?", (broadcast_id,))


def pause(conn, broadcast_id, reason, resume_at=None):
    conn.execute("UPDATE broadcasts SET status = 'paused', pause_reason = ?, resume_at = ? "
                 "WHERE id = ? AND status IN ('queued', 'sending')",
                 (reason, resume_at, broadcast_id))


# --- reading -------------------------------------------------------------------------------

_COLUMNS = ("id", "text", "media_url", "status", "urgent", "created_at", "send_at",
            "expires_at", "started_at", "finished_at", "recipients", "pause_reason",
            "resume_at", "retries_unknown")


def get(conn, broadcast_id):
    """A broadcast as a dict, with its ``counts``, ``errors`` (by the platform's code) and
    ``failures`` (``{(kind, code): count}``, for labels and hints)."""
    row = _row(conn, ", ".join(_COLUMNS), broadcast_id)
    return _with_counts(conn, dict(zip(_COLUMNS, row)))


def list_recent(conn, limit=50, offset=0):
    if offset > SQLITE_INT_MAX:
        return []  # past the end of any table SQLite can hold
    limit = min(limit, SQLITE_INT_MAX)
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM broadcasts ORDER BY id DESC LIMIT ? OFFSET ?",
        (limit, offset)).fetchall()
    return [_with_counts(conn, dict(zip(_COLUMNS, row))) for row in rows]


# The count a delivery falls under: the sender's state while it is queued, failed or skipped;
# after it was sent, the furthest status the platform reported (a message_status row while
# the message id is kept, the delivery's own receipt once it was forgotten).
_BUCKET = (
    "CASE WHEN d.state IN ('queued', 'sending') THEN 'queued' "
    "     WHEN d.state IN ('failed', 'skipped') THEN d.state "
    "     ELSE coalesce(m.status, d.receipt, 'sent') END")
_FAILURE = (
    "CASE WHEN d.state = 'failed' THEN {column} "
    "     WHEN m.status = 'failed' THEN m.{name} "
    "     WHEN m.status IS NULL AND d.receipt = 'failed' THEN {column} END")


def _with_counts(conn, broadcast):
    broadcast["urgent"] = bool(broadcast["urgent"])
    counts = dict.fromkeys(COUNT_KEYS, 0)
    errors, failures = {}, {}
    rows = conn.execute(
        f"SELECT {_BUCKET} AS bucket, "
        f"       {_FAILURE.format(column='d.error_code', name='error_code')} AS code, "
        f"       {_FAILURE.format(column='d.error_kind', name='error_kind')} AS kind, "
        "       count(*) "
        "FROM deliveries d LEFT JOIN message_status m ON m.sid = d.sid "
        "WHERE d.broadcast_id = ? GROUP BY bucket, code, kind", (broadcast["id"],))
    for bucket, code, kind, number in rows:
        counts[bucket] += number
        if bucket == "failed":
            key = code or "unknown"
            errors[key] = errors.get(key, 0) + number
            failures[(kind, code)] = failures.get((kind, code), 0) + number
    if broadcast["status"] == "scheduled":
        counts["queued"] = broadcast["recipients"]
    broadcast["counts"] = counts
    broadcast["errors"] = errors
    broadcast["failures"] = failures
    return broadcast


def skip_reasons(conn, broadcast_id):
    """Why deliveries of a broadcast were skipped: {reason: count} (no recipients named)."""
    return dict(conn.execute(
        "SELECT coalesce(error_code, 'unknown'), count(*) FROM deliveries "
        "WHERE broadcast_id = ? AND state = 'skipped' GROUP BY 1", (broadcast_id,)).fetchall())


def recently_active(conn, since):
    """Broadcasts sending or paused now, or finished since ``since`` (callbacks still come)."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM broadcasts WHERE status IN ('sending', 'paused') "
        "OR (status = 'done' AND finished_at >= ?) ORDER BY id", (since,))]
