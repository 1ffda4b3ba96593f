"""Retention: the cleanup that keeps only what is still needed, run daily by the sender.

- The webhook deduplication log: Twilio retries within seconds, so after
  ``RETENTION_INBOUND_DAYS`` a MessageSid has no use left.
- Deliveries of broadcasts finished more than ``RETENTION_DELIVERY_DAYS`` ago lose their link
  to a subscriber and their Twilio message SID: Twilio can tell from a SID to which number it
  went, so keeping it would keep the number, one step removed. The final status a SID pointed
  to is kept in a shared status row, so the broadcast's counts stay exactly as they were.
  Status rows no delivery refers to go.
- The auto-notice throttle: an entry older than ``NOTICE_WINDOW_HOURS`` no longer throttles.
- Failed sign-ins to the console: after ``SIGNIN_LOCK_MINUTES`` they no longer lock anything.
- Consent records of people who are no longer subscribed, ``RETENTION_CONSENT_YEARS`` after
  their last record. Those of current subscribers stay: they are the consent the sending rests on.

Every step works in short batches, so webhooks never wait long for the write lock.
"""

import json
from datetime import datetime, timedelta, timezone

import click
from flask import current_app
from flask.cli import with_appcontext

from .db import connect, now_iso, to_iso, write

BATCH_SIZE = 2000
LAST_RUN = "cleanup_last_run"
DAYS_PER_YEAR = 365.25
# Prefix of the shared status rows that stand in for forgotten SIDs ("final:delivered:",
# "final:failed:63016"). Twilio's SIDs start with two capital letters, so they never clash.
FOLDED_PREFIX = "final:"


def cleanup(conn, settings, now=None):
    """Apply every retention rule once; returns how many rows each rule touched."""
    now = now or datetime.now(timezone.utc)

    def before(**delta):
        return to_iso(now - timedelta(**delta))

    delivery_cutoff = before(days=settings["RETENTION_DELIVERY_DAYS"])
    consent_cutoff = before(days=settings["RETENTION_CONSENT_YEARS"] * DAYS_PER_YEAR)
    unlinked, sids_removed, status_removed = _forget_finished_deliveries(conn, delivery_cutoff)
    counts = {
        "deliveries_unlinked": unlinked,
        "delivery_sids_removed": sids_removed,
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
        "notice_throttle": _batched(
            conn, "DELETE FROM notice_throttle WHERE phone_hash IN (SELECT phone_hash FROM "
                  "notice_throttle WHERE sent_at < ? LIMIT ?)",
            before(hours=settings["NOTICE_WINDOW_HOURS"])),
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
    """Unlink and forget the SIDs of deliveries of broadcasts finished before ``cutoff``.

    Returns (links removed, SIDs removed, status rows removed).
    """
    totals = [0, 0, 0]
    while True:
        with write(conn) as tx:
            ids = [row[0] for row in tx.execute(
                "SELECT d.id FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
                "WHERE b.status IN ('done', 'cancelled') AND b.finished_at < ? "
                "AND (d.subscriber_id IS NOT NULL OR (d.sid IS NOT NULL AND d.sid NOT LIKE ?)) "
                "LIMIT ?", (cutoff, FOLDED_PREFIX + "%", BATCH_SIZE))]
            sids, statuses = forget_sids(tx, ids)
            totals[0] += tx.execute(
                "UPDATE deliveries SET subscriber_id = NULL WHERE id IN (SELECT value FROM "
                "json_each(?)) AND subscriber_id IS NOT NULL", (json.dumps(ids),)).rowcount
            totals[1] += sids
            totals[2] += statuses
        if len(ids) < BATCH_SIZE:
            return tuple(totals)


def forget_sids(tx, delivery_ids):
    """Replace the Twilio SIDs of these deliveries by shared rows that hold only the status.

    The counts join deliveries to message_status by sid, so a delivery pointed at the shared
    row "final:<status>:<error code>" counts exactly as before; one that never got a callback
    keeps no sid at all (it counts as sent either way). The per-message rows go. Returns
    (SIDs removed, status rows removed). The caller holds the write transaction.
    """
    if not delivery_ids:
        return 0, 0
    rows = tx.execute(
        "SELECT d.id, d.sid, m.status, m.rank, m.error_code FROM deliveries d "
        "LEFT JOIN message_status m ON m.sid = d.sid WHERE d.id IN (SELECT value FROM "
        "json_each(?)) AND d.sid IS NOT NULL AND d.sid NOT LIKE ?",
        (json.dumps(list(delivery_ids)), FOLDED_PREFIX + "%")).fetchall()
    now = now_iso()
    updates = []
    for delivery_id, _, status, rank, error_code in rows:
        folded = None
        if status is not None:
            folded = f"{FOLDED_PREFIX}{status}:{error_code or ''}"
            tx.execute("INSERT INTO message_status (sid, rank, status, error_code, updated_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sid) DO NOTHING",
                       (folded, rank, status, error_code, now))
        updates.append((folded, delivery_id))
    tx.executemany("UPDATE deliveries SET sid = ? WHERE id = ?", updates)
    removed = tx.execute(
        "DELETE FROM message_status WHERE sid IN (SELECT value FROM json_each(?)) "
        "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.sid = message_status.sid)",
        (json.dumps([row[1] for row in rows]),)).rowcount
    return len(rows), removed


def _batched(conn, sql, cutoff):
    total = 0
    while True:
        with write(conn) as tx:
            touched = tx.execute(sql, (cutoff, BATCH_SIZE)).rowcount
        total += touched
        if touched < BATCH_SIZE:
            return total


@click.command("cleanup")
@with_appcontext
def cleanup_command():
    """Apply the retention rules now (the worker also does this daily)."""
    database = connect(current_app.config["DATABASE_PATH"])
    try:
        counts = cleanup(database, current_app.config)
    finally:
        database.conn.close()
    for name, number in counts.items():
        click.echo(f"{name}: {number}")


def init_app(app):
    app.cli.add_command(cleanup_command)
