"""The receipts Twilio's Event Streams sink posts, each stored once.

The sink delivers at least once: a post not answered 2xx comes again, whole, and an event may
come twice in different posts. Each event's id is kept (``event_receipts``); a status is
recorded (``statuses``) only by the first post that brings its event, inside the same
transaction, so a replay changes no delivery and no count; it is only counted as a duplicate
(``/metrics``). Runs inside the caller's write transaction.
"""

from . import counters, statuses
from .db import now_iso

# The sink retries for up to four hours; a few days leave room for a clock that is off and an
# outage over a weekend, and the ids are all there is (no number, no text).
KEEP_DAYS = 3
WEBHOOK = "events"  # its name in the metrics
_KEEP = ("INSERT INTO event_receipts (event_id, received_at) VALUES (?, ?) "
         "ON CONFLICT (event_id) DO NOTHING")


def record(conn, receipts):
    """Store what is new of ``receipts`` (``Receipt``s of one post); returns
    (new events, replayed events)."""
    now = now_iso()
    fresh, replayed = [], 0
    for receipt in receipts:
        if conn.execute(_KEEP, (receipt.event_id, now)).rowcount:
            if receipt.update is not None:
                fresh.append(receipt.update)
        else:
            replayed += 1
    statuses.record_many(conn, fresh, webhook=WEBHOOK)
    if replayed:
        counters.add(conn, counters.webhook(WEBHOOK, "duplicate"), replayed)
    return len(receipts) - replayed, replayed
