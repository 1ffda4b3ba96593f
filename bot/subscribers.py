"""Subscriptions, consent records, webhook deduplication and the notice throttle.

All functions run inside a write transaction the caller holds (``db.write``), so one inbound
message is recorded completely or not at all.
"""

import sqlite3

from .db import now_iso

NEW, ALREADY = "new", "already"
REMOVED, NOT_SUBSCRIBED = "removed", "not_subscribed"


def record_inbound(conn, message_sid):
    """Remember a MessageSid; False when it was seen before (a replayed webhook)."""
    try:
        conn.execute("INSERT INTO inbound_messages (message_sid, received_at) VALUES (?, ?)",
                     (message_sid, now_iso()))
    except sqlite3.IntegrityError:
        return False
    return True


def subscribe(conn, vault, e164, phone_hash, keyword, message_sid, phone_enc=None):
    """``phone_enc`` may be encrypted beforehand, to keep the write lock short."""
    at = now_iso()
    cursor = conn.execute(
        "INSERT INTO subscribers (phone_hash, phone_enc, subscribed_at) VALUES (?, ?, ?) "
        "ON CONFLICT (phone_hash) DO NOTHING",
        (phone_hash, phone_enc or vault.encrypt(e164), at))
    if cursor.rowcount == 0:
        return ALREADY
    _consent(conn, phone_hash, "subscribe", keyword, message_sid, at)
    return NEW


def unsubscribe(conn, phone_hash, keyword, message_sid):
    row = conn.execute("DELETE FROM subscribers WHERE phone_hash = ? RETURNING id",
                       (phone_hash,)).fetchone()
    if row is None:
        return NOT_SUBSCRIBED
    _unlink_deliveries(conn, row[0])
    _consent(conn, phone_hash, "unsubscribe", keyword, message_sid, now_iso())
    return REMOVED


def unsubscribe_by_id(conn, subscriber_id, reason):
    """Unsubscribe after the platform said the citizen opted out (Twilio error 21610)."""
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


def claim_notice(conn, phone_hash, window_seconds):
    """True when the auto-notice may go to this sender now (and remember that it did)."""
    now = now_iso()
    cutoff = now_iso(-window_seconds)
    cursor = conn.execute(
        "INSERT INTO notice_throttle (phone_hash, sent_at) VALUES (?, ?) "
        "ON CONFLICT (phone_hash) DO UPDATE SET sent_at = excluded.sent_at "
        "WHERE notice_throttle.sent_at < ?",
        (phone_hash, now, cutoff))
    return cursor.rowcount == 1


def count_active(conn):
    return conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]


def _consent(conn, phone_hash, action, keyword, message_sid, at):
    conn.execute(
        "INSERT INTO consent_events (phone_hash, action, keyword, message_sid, at) "
        "VALUES (?, ?, ?, ?, ?)",
        (phone_hash, action, keyword, message_sid, at))
