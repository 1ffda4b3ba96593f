"""Deliveries the platform held back for its cap per citizen: when to try them again, and
the trying again, from the send (the sender) or from a status report (the web process).

The platform holds a message back when the citizen has had their share of such messages from
businesses lately (a cap per citizen, over a rolling window it does not publish). Trying again
at once is refused again; hours later it goes through. A broadcast that expires sooner is tried
again halfway to its expiry (but not sooner than a quarter of an hour: the cap does not lift in
minutes), and one that has been going for a day gives up on that citizen: by then its news is
old, and the broadcast must end. Runs inside a write transaction the caller holds.
"""

import time
from datetime import datetime

from .. import vocabulary
from .db import now_iso

RETRY_SECONDS = 4 * 3600
SOONEST_SECONDS = 15 * 60
GIVE_UP_SECONDS = 24 * 3600


def retry_at(now, seconds, expires_at=None, started_at=None):
    """When to try again (epoch seconds) a delivery the cap per citizen held back at ``now``,
    ``seconds`` later at most; None: give up. ``expires_at``/``started_at``: the broadcast's
    (ISO, or None)."""
    retry = now + seconds
    expires = _epoch(expires_at)
    if expires is not None and retry >= expires:
        retry = now + max(min(seconds, SOONEST_SECONDS), (expires - now) / 2)
    started = _epoch(started_at)
    if started is not None and retry - started > GIVE_UP_SECONDS:
        return None
    return retry


def retry(conn, refusals):
    """Deliveries the platform's cap per citizen held back (``refusals``: [(code,
    delivery_id, seconds)]) are tried again later, not as an attempt (the citizen did nothing
    wrong and nothing was sent twice), and counted apart on their broadcast
    (``retries_citizen_cap``). One being sent (the refusal came with the send) always goes
    back; one already sent (the refusal came in a status report) only while its broadcast may
    still send, which then sends again. Given up on (see ``retry_at``), the delivery is
    failed with the kind."""
    now = time.time()
    reopened = {}
    for code, delivery_id, seconds in refusals:
        row = conn.execute(
            "SELECT d.state, d.broadcast_id, b.status, b.expires_at, b.started_at "
            "FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id WHERE d.id = ?",
            (delivery_id,)).fetchone()
        if row is None or row[0] not in ("sending", "sent"):
            continue
        state, broadcast_id, status, expires_at, started_at = row
        when = retry_at(now, seconds, expires_at, started_at)
        if state == "sent":
            closed = status not in ("queued", "sending", "paused", "done") or (
                expires_at is not None and expires_at <= now_iso())
            if closed or when is None:
                continue  # the refusal stays on the delivery, counted as failed
        elif when is None:
            conn.execute("UPDATE deliveries SET state = 'failed', error_code = ?, "
                         "error_kind = ? WHERE id = ?",
                         (code, vocabulary.CITIZEN_CAP, delivery_id))
            continue
        conn.execute(
            "UPDATE deliveries SET state = 'queued', sid = NULL, next_attempt_at = ?, "
            "receipt = NULL, receipt_rank = NULL, receipt_at = NULL, error_code = NULL, "
            "error_kind = NULL WHERE id = ?", (when, delivery_id))
        reopened[broadcast_id] = reopened.get(broadcast_id, 0) + 1
    for broadcast_id, number in reopened.items():
        # A broadcast that looked done has one more to send.
        conn.execute("UPDATE broadcasts SET retries_citizen_cap = retries_citizen_cap + ?, "
                     "status = CASE status WHEN 'done' THEN 'sending' ELSE status END, "
                     "finished_at = CASE status WHEN 'done' THEN NULL ELSE finished_at END "
                     "WHERE id = ?", (number, broadcast_id))
    return reopened


def _epoch(iso):
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
