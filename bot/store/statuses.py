"""What the platform reports after a send (status callbacks), highest status kept.

Written by the web process independently of the sender, because a callback can arrive before
the sender has recorded the message id. Runs inside a write transaction the caller holds.
"""

from . import counters, subscribers
from .db import now_iso
from .deliveries import requeue_for_limit


_UPSERT = (
    "INSERT INTO message_status (sid, rank, status, error_code, error_kind, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sid) DO UPDATE SET rank = excluded.rank, "
    "status = excluded.status, error_code = excluded.error_code, "
    "error_kind = excluded.error_kind, updated_at = excluded.updated_at "
    "WHERE excluded.rank > message_status.rank")


def record_many(conn, updates):
    """``record`` for a batch (a group commit of callbacks), in one transaction the caller
    holds. The order within the batch does not matter: the highest status wins either way."""
    now = now_iso()
    conn.executemany(_UPSERT, [(u.message_id, u.rank, u.status, u.error_code, u.error_kind, now)
                               for u in updates])
    # Every callback stored is one the platform's status webhook brought (the front refuses
    # the others without a write, uncounted).
    if updates:
        counters.add(conn, counters.webhook("status", "accepted"), len(updates))
    for update in updates:
        if update.limit_reached or update.opted_out:
            _consequences(conn, update)


def record(conn, update):
    """Keep the highest status reported for a message (callbacks come in any order).

    A message refused for WhatsApp's messaging limit pauses its broadcast and goes out again
    after the pause, as when the refusal comes straight from the send. An opt-out reported
    here unsubscribes the citizen at once when the delivery is known (else the sender's
    housekeeping matches it later).
    """
    record_many(conn, [update])


def _consequences(conn, update):
    if update.limit_reached:
        # Before the sender has stored the id this finds nothing; record_outcomes looks again.
        refused = conn.execute("SELECT id FROM deliveries WHERE sid = ? AND state = 'sent'",
                               (update.message_id,)).fetchall()
        requeue_for_limit(conn, [row[0] for row in refused], update.error_code)
    if update.opted_out:
        subscriber_id = subscriber_for(conn, update.message_id)
        if subscriber_id is not None:
            subscribers.unsubscribe_by_id(conn, subscriber_id, "platform-opt-out")


def subscriber_for(conn, message_id):
    row = conn.execute("SELECT subscriber_id FROM deliveries WHERE sid = ?",
                       (message_id,)).fetchone()
    return row[0] if row else None
