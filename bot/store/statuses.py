"""What the platform reports after a send (status callbacks), furthest status kept.

A report for a message a delivery knows goes onto that delivery (``receipt``; the counts move
with it, see schema.sql). One that comes before the sender has recorded the message id — the
platform can be that fast — waits in ``message_status`` until the sender does
(``deliveries.record_outcomes``). Both run inside a write transaction the caller holds.
"""

from .. import vocabulary
from . import citizen_cap, counters, subscribers
from .db import now_iso
from .deliveries import requeue_for_limit

# A report moves a delivery only forward (callbacks come in any order); failed is final.
_ONTO_DELIVERY = (
    "UPDATE deliveries SET receipt = ?3, receipt_rank = ?2, receipt_at = ?6, "
    "error_code = CASE WHEN ?3 = 'failed' THEN ?4 ELSE error_code END, "
    "error_kind = CASE WHEN ?3 = 'failed' THEN ?5 ELSE error_kind END "
    "WHERE sid = ?1 AND state = 'sent' AND coalesce(receipt_rank, 0) < ?2")
_WAITING = (
    "INSERT INTO message_status (sid, rank, status, error_code, error_kind, updated_at) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE sid = ?1) "
    "ON CONFLICT (sid) DO UPDATE SET rank = excluded.rank, status = excluded.status, "
    "error_code = excluded.error_code, error_kind = excluded.error_kind, "
    "updated_at = excluded.updated_at WHERE excluded.rank > message_status.rank")


def record_many(conn, updates, webhook="status"):
    """``record`` for a batch (a group commit of callbacks). The order within the batch does
    not matter: the furthest status wins either way. ``webhook``: the metrics' name of the
    webhook that brought them."""
    now = now_iso()
    rows = [(u.message_id, u.rank, u.status, u.error_code, u.error_kind, now) for u in updates]
    conn.executemany(_ONTO_DELIVERY, rows)
    conn.executemany(_WAITING, rows)
    # Every callback stored is one the platform's status webhook brought (the front refuses
    # the others without a write, uncounted).
    if updates:
        counters.add(conn, counters.webhook(webhook, "accepted"), len(updates))
    for update in updates:
        if update.limit_reached or update.opted_out or update.error_kind == _CITIZEN_CAP:
            _consequences(conn, update)


def record(conn, update):
    """Keep the furthest status reported for a message.

    A message refused for WhatsApp's messaging limit pauses its broadcast and goes out again
    after the pause, as when the refusal comes straight from the send; one held back by the
    platform's cap per citizen goes out again hours later (``retry``). An
    opt-out reported here unsubscribes the citizen at once when the delivery is known (else
    the sender does when it records the message id). A citizen who declined such messages at
    WhatsApp stays subscribed: the failure, with its kind, is all there is to it.
    """
    record_many(conn, [update])


_CITIZEN_CAP = vocabulary.CITIZEN_CAP


def _consequences(conn, update):
    if update.error_kind == _CITIZEN_CAP:
        refused = conn.execute("SELECT id FROM deliveries WHERE sid = ? AND state = 'sent'",
                               (update.message_id,)).fetchall()
        citizen_cap.retry(conn, [(update.error_code, row[0], citizen_cap.RETRY_SECONDS)
                                 for row in refused])
    if update.limit_reached:
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
