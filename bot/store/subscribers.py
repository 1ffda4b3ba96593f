"""Subscriptions and the consent records that prove them.

The functions that write run inside a write transaction the caller holds (``db.write``), so
one inbound message is recorded completely or not at all.
"""

from .db import now_iso

NEW, ALREADY = "new", "already"
REMOVED, NOT_SUBSCRIBED = "removed", "not_subscribed"


def subscribe(conn, phone_hash, phone_enc, keyword, message_id):
    """``phone_enc``: the number, encrypted beforehand to keep the write lock short."""
    at = now_iso()
    cursor = conn.execute(
        "INSERT INTO subscribers (phone_hash, phone_enc, subscribed_at) VALUES (?, ?, ?) "
        "ON CONFLICT (phone_hash) DO NOTHING",
        (phone_hash, phone_enc, at))
    if cursor.rowcount == 0:
        return ALREADY
    _consent(conn, phone_hash, "subscribe", keyword, message_id, at)
    return NEW


def unsubscribe(conn, phone_hash, keyword, message_id):
    row = conn.execute("DELETE FROM subscribers WHERE phone_hash = ? RETURNING id",
                       (phone_hash,)).fetchone()
    if row is None:
        return NOT_SUBSCRIBED
    _unlink_deliveries(conn, row[0])
    _consent(conn, phone_hash, "unsubscribe", keyword, message_id, now_iso())
    return REMOVED


def unsubscribe_by_id(conn, subscriber_id, reason):
    """Unsubscribe after the platform said the citizen opted out (``reason``: what for)."""
    row = conn.execute("DELETE FROM subscribers WHERE id = ? RETURNING phone_hash",
                       (subscriber_id,)).fetchone()
    if row:
        _unlink_deliveries(conn, subscriber_id)
        _consent(conn, row[0], "unsubscribe", reason, None, now_iso())


def _unlink_deliveries(conn, subscriber_id):
    """Whoever leaves is no longer linked to what they were sent; the counts stay.

    It also keeps a later subscriber who gets the same row id (SQLite reuses the highest one)
    from inheriting someone else's deliveries; queued ones are skipped by the sender.
    """
    return conn.execute("UPDATE deliveries SET subscriber_id = NULL WHERE subscriber_id = ?",
                        (subscriber_id,)).rowcount


def is_subscribed(conn, phone_hash):
    return conn.execute("SELECT 1 FROM subscribers WHERE phone_hash = ?",
                        (phone_hash,)).fetchone() is not None


def count_active(conn):
    return conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]


def _consent(conn, phone_hash, action, keyword, message_id, at):
    conn.execute(
        "INSERT INTO consent_events (phone_hash, action, keyword, message_sid, at) "
        "VALUES (?, ?, ?, ?, ?)",
        (phone_hash, action, keyword, message_id, at))
