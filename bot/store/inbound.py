"""What arrives from citizens, remembered as little as possible: webhook deduplication, and
the auto-notice throttle.

Both key on what cannot name a person by itself (the platform's message id; a keyed hash of
the number). The functions that write run inside a write transaction the caller holds.
"""

import sqlite3
from datetime import datetime, timedelta, timezone

from . import counters
from .db import now_iso, to_iso, write

NOTICE_BATCH = 500


def record_inbound(conn, message_id):
    """Remember a message id; False when it was seen before (a replayed webhook).

    The primary key is the proof: two copies of one webhook that race each other cannot both
    get in.
    """
    try:
        conn.execute("INSERT INTO inbound_messages (message_sid, received_at) VALUES (?, ?)",
                     (message_id, now_iso()))
    except sqlite3.IntegrityError:
        counters.add(conn, counters.webhook("messages", "duplicate"))
        return False
    counters.add(conn, counters.webhook("messages", "accepted"))
    return True


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


def forget_old_notices(database, window_seconds, now=None, batch_size=NOTICE_BATCH):
    """Delete auto-notice throttle entries older than the window (before ``now``, a datetime;
    default: now); returns how many.

    The throttle keys on a hash of the citizen's number; once the window is over the entry has
    no use and is forgotten (the sender does this every minute, the retention cleanup too). In
    batches, each its own short write, so webhooks never wait long.
    """
    conn = getattr(database, "conn", database)
    cutoff = to_iso((now or datetime.now(timezone.utc)) - timedelta(seconds=window_seconds))
    total = 0
    # Most minutes there is nothing to forget: find that out without taking the write lock.
    while conn.execute("SELECT 1 FROM notice_throttle WHERE sent_at < ? LIMIT 1",
                       (cutoff,)).fetchone():
        with write(database) as tx:
            deleted = tx.execute(
                "DELETE FROM notice_throttle WHERE phone_hash IN (SELECT phone_hash FROM "
                "notice_throttle WHERE sent_at < ? LIMIT ?)", (cutoff, batch_size)).rowcount
        total += deleted
        if deleted < batch_size:
            break
    return total
