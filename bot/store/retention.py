"""Retention: the cleanup that keeps only what is still needed, run daily by the sender.

- The webhook deduplication log: the platform retries within seconds, so after
  ``RETENTION_INBOUND_DAYS`` a message id has no use left. The Event Streams sink's event ids
  likewise after ``event_receipts.KEEP_DAYS`` (its retries end after four hours).
- Deliveries of broadcasts finished more than ``RETENTION_DELIVERY_DAYS`` ago lose their link
  to a subscriber and their message id: the platform can tell from the id to which number it
  went, so keeping it would keep the number, one step removed. The furthest status reported
  for it stays on the delivery itself (``receipt``), so the broadcast's counts stay exactly as
  they were. Reports that never found their delivery go too.
- Citizens' reactions to those broadcasts lose the hash of who reacted, at the same time; the
  emoji stays, so the counts stay as they were.
- The auto-notice throttle: an entry older than ``NOTICE_WINDOW_HOURS`` no longer throttles.
- Failed sign-ins to the console: after ``SIGNIN_LOCK_MINUTES`` they no longer lock anything.
- Consent records of people who are no longer subscribed, ``RETENTION_CONSENT_YEARS`` after
  their last record. Those of current subscribers stay: they are the consent the sending rests on.
- Audit trail entries older than ``RETENTION_AUDIT_YEARS``: the same reasoning as for consent
  records (claims lapse after three years). The chain's anchor moves with them, so what is kept
  still verifies (``audit.prune``).
- Failed sign-in windows that have ended are written into the audit trail, one entry each
  (``failed_signins``), so that a window nobody looked at still gets its entry.
- When citizens who left last got a message (times alone, nothing of who: WhatsApp's
  messaging limit counts them for the rest of their 24 hours), after those 24 hours.
- Who voted in a poll, with the broadcast's deliveries: the votes stay counted without the
  hash.
- Uploaded pictures that no broadcast shows, a day after the upload (a test send's picture, a
  compose that was given up): they may show people, and nothing needs them.

Every step works in short batches, so webhooks never wait long for the write lock.
"""

import json
from datetime import datetime, timedelta, timezone

from . import audit, event_receipts, failed_signins, media, polls, reactions
from .db import to_iso, write
from .inbound import forget_old_notices

BATCH_SIZE = 2000
LAST_RUN = "cleanup_last_run"
DAYS_PER_YEAR = 365.25
UNUSED_MEDIA_DAYS = 1


def cleanup(conn, settings, now=None):
    """Apply every retention rule once; returns how many rows each rule touched."""
    now = now or datetime.now(timezone.utc)

    def before(**delta):
        return to_iso(now - timedelta(**delta))

    delivery_cutoff = before(days=settings["RETENTION_DELIVERY_DAYS"])
    consent_cutoff = before(days=settings["RETENTION_CONSENT_YEARS"] * DAYS_PER_YEAR)
    audit_cutoff = before(days=settings["RETENTION_AUDIT_YEARS"] * DAYS_PER_YEAR)
    unlinked, sids_removed, status_removed = _forget_finished_deliveries(conn, delivery_cutoff)
    counts = {
        "deliveries_unlinked": unlinked,
        "delivery_sids_removed": sids_removed,
        "reactions_unlinked": _in_batches(
            conn, lambda tx: reactions.forget_finished(tx, delivery_cutoff, BATCH_SIZE)),
        "inbound_messages": _batched(
            conn, "DELETE FROM inbound_messages WHERE message_sid IN (SELECT message_sid FROM "
                  "inbound_messages WHERE received_at < ? LIMIT ?)",
            before(days=settings["RETENTION_INBOUND_DAYS"])),
        # A callback can arrive before the sender has stored the sid, so only old ones go.
        "message_status": _batched(
            conn, "DELETE FROM message_status WHERE rowid IN (SELECT m.rowid FROM "
                  "message_status m WHERE m.updated_at < ? AND NOT EXISTS ("
                  "SELECT 1 FROM deliveries d WHERE d.sid = m.sid) LIMIT ?)", delivery_cutoff)
        + status_removed,
        "event_receipts": _batched(
            conn, "DELETE FROM event_receipts WHERE event_id IN (SELECT event_id FROM "
                  "event_receipts WHERE received_at < ? LIMIT ?)",
            before(days=event_receipts.KEEP_DAYS)),
        "notice_throttle": forget_old_notices(
            conn, settings["NOTICE_WINDOW_HOURS"] * 3600, now=now, batch_size=BATCH_SIZE),
        "signin_failures": _batched(
            conn, "DELETE FROM signin_failures WHERE id IN (SELECT id FROM signin_failures "
                  "WHERE at < ? LIMIT ?)", before(minutes=settings["SIGNIN_LOCK_MINUTES"])),
        "consent_events": _batched(
            conn, "DELETE FROM consent_events WHERE phone_hash IN ("
                  "SELECT phone_hash FROM consent_events GROUP BY phone_hash "
                  "HAVING max(at) < ? AND phone_hash NOT IN (SELECT phone_hash FROM subscribers) "
                  "LIMIT ?)", consent_cutoff),
        "outbox": _batched(
            conn, "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE created_at < ? "
                  "LIMIT ?)", delivery_cutoff),
        "signin_windows_closed": _in_batches(
            conn, lambda tx: failed_signins.close_due(tx, now, BATCH_SIZE)),
        "audit_entries": _in_batches(conn, lambda tx: audit.prune(tx, audit_cutoff, BATCH_SIZE)),
        # Times alone (when someone who left last got a message): after a day they no longer
        # count against WhatsApp's messaging limit. Each departure removes them too; this is
        # for the days without one.
        "departed_reach": _batched(
            conn, "DELETE FROM departed_reach WHERE rowid IN (SELECT rowid FROM departed_reach "
                  "WHERE at < ? LIMIT ?)", now.timestamp() - 24 * 3600),
        "poll_voters_forgotten": _in_batches(
            conn, lambda tx: polls.forget_old_voters(tx, delivery_cutoff, BATCH_SIZE)),
        "media_unused": _in_batches(
            conn, lambda tx: media.forget_unused(tx, before(days=UNUSED_MEDIA_DAYS), BATCH_SIZE)),
    }
    with write(conn) as tx:
        tx.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                   "DO UPDATE SET value = excluded.value", (LAST_RUN, to_iso(now)))
    return counts


def last_run(conn):
    conn = getattr(conn, "conn", conn)
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (LAST_RUN,)).fetchone()
    return row[0] if row else None


def run_if_due(conn, settings, now=None):
    """Clean up when the last run is older than ``CLEANUP_INTERVAL_HOURS``; else None.

    The time of the last run is kept in the database, so a restarted sender does not clean up
    again at once, and a run that failed half-way is tried again.
    """
    now = now or datetime.now(timezone.utc)
    previous = last_run(conn)
    if previous and previous > to_iso(now - timedelta(hours=settings["CLEANUP_INTERVAL_HOURS"])):
        return None
    return cleanup(conn, settings, now)


def _forget_finished_deliveries(conn, cutoff):
    """Unlink and forget the message ids of deliveries of broadcasts finished before ``cutoff``.

    Returns (links removed, message ids removed, status rows removed).
    """
    totals = [0, 0, 0]
    while True:
        with write(conn) as tx:
            ids = [row[0] for row in tx.execute(
                "SELECT d.id FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
                "WHERE b.status IN ('done', 'cancelled') AND b.finished_at < ? "
                "AND (d.subscriber_id IS NOT NULL OR d.sid IS NOT NULL) LIMIT ?",
                (cutoff, BATCH_SIZE))]
            sids, statuses = forget_sids(tx, ids)
            totals[0] += tx.execute(
                "UPDATE deliveries SET subscriber_id = NULL WHERE id IN (SELECT value FROM "
                "json_each(?)) AND subscriber_id IS NOT NULL", (json.dumps(ids),)).rowcount
            totals[1] += sids
            totals[2] += statuses
        if len(ids) < BATCH_SIZE:
            return tuple(totals)


def forget_sids(tx, delivery_ids):
    """Forget the platform's message ids of these deliveries; what they reported stays on the
    deliveries (``receipt``), so the counts do not move. Returns (message ids removed, status
    rows removed). The caller holds the write transaction."""
    if not delivery_ids:
        return 0, 0
    ids = json.dumps(list(delivery_ids))
    sids = [row[0] for row in tx.execute(
        "UPDATE deliveries SET sid = NULL WHERE id IN (SELECT value FROM json_each(?)) "
        "AND sid IS NOT NULL RETURNING sid", (ids,))]
    removed = tx.execute(
        "DELETE FROM message_status WHERE sid IN (SELECT value FROM json_each(?))",
        (json.dumps(sids),)).rowcount
    return len(sids), removed


def _in_batches(conn, step):
    """Run ``step(tx)`` (returns how many rows it removed) in short transactions until a batch
    is not full."""
    total = 0
    while True:
        with write(conn) as tx:
            touched = step(tx)
        total += touched
        if touched < BATCH_SIZE:
            return total


def _batched(conn, sql, cutoff):
    total = 0
    while True:
        with write(conn) as tx:
            touched = tx.execute(sql, (cutoff, BATCH_SIZE)).rowcount
        total += touched
        if touched < BATCH_SIZE:
            return total
