"""Retention: the cleanup that keeps only what is still needed, run daily by the sender.

- The webhook deduplication log: Twilio retries within seconds, so after
  ``RETENTION_INBOUND_DAYS`` a MessageSid has no use left.
- Deliveries of broadcasts finished more than ``RETENTION_DELIVERY_DAYS`` ago lose their link
  to a subscriber (the rows, and so the counts, stay); status rows no delivery refers to go.
- The auto-notice throttle: an entry older than ``NOTICE_WINDOW_HOURS`` no longer throttles.
- Consent records of people who are no longer subscribed, ``RETENTION_CONSENT_YEARS`` after
  their last record. Those of current subscribers stay: they are the consent the sending rests on.

Every step works in short batches, so webhooks never wait long for the write lock.
"""

from datetime import datetime, timedelta, timezone

import click
from flask import current_app
from flask.cli import with_appcontext

from .db import connect, to_iso, write

BATCH_SIZE = 2000
LAST_RUN = "cleanup_last_run"
DAYS_PER_YEAR = 365.25


def cleanup(conn, settings, now=None):
    """Apply every retention rule once; returns how many rows each rule touched."""
    now = now or datetime.now(timezone.utc)

    def before(**delta):
        return to_iso(now - timedelta(**delta))

    delivery_cutoff = before(days=settings["RETENTION_DELIVERY_DAYS"])
    consent_cutoff = before(days=settings["RETENTION_CONSENT_YEARS"] * DAYS_PER_YEAR)
    counts = {
        "inbound_messages": _batched(
            conn, "DELETE FROM inbound_messages WHERE message_sid IN (SELECT message_sid FROM "
                  "inbound_messages WHERE received_at < ? LIMIT ?)",
            before(days=settings["RETENTION_INBOUND_DAYS"])),
        "deliveries_unlinked": _batched(
            conn, "UPDATE deliveries SET subscriber_id = NULL WHERE id IN ("
                  "SELECT d.id FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
                  "WHERE d.subscriber_id IS NOT NULL AND b.status IN ('done', 'cancelled') "
                  "AND b.finished_at < ? LIMIT ?)", delivery_cutoff),
        # A callback can arrive before the sender has stored the sid, so only old ones go.
        "message_status": _batched(
            conn, "DELETE FROM message_status WHERE rowid IN (SELECT m.rowid FROM "
                  "message_status m WHERE m.updated_at < ? AND NOT EXISTS ("
                  "SELECT 1 FROM deliveries d WHERE d.sid = m.sid) LIMIT ?)", delivery_cutoff),
        "notice_throttle": _batched(
            conn, "DELETE FROM notice_throttle WHERE phone_hash IN (SELECT phone_hash FROM "
                  "notice_throttle WHERE sent_at < ? LIMIT ?)",
            before(hours=settings["NOTICE_WINDOW_HOURS"])),
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
