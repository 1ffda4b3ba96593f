"""Counters the service keeps about itself, for the operator's metrics: one row per name in
``counters``, only ever added to, so that a scrape reads them all in one small query.

What becomes of messages is counted by triggers (schema.sql, migration 0013_metrics) on every
path that moves a delivery or a status; what code must say itself (webhook requests, by
outcome) goes through ``add``, inside the transaction that does the work, where there is one.
"""

from .db import write

MESSAGES = "messages_"      # + sent, delivered, read, failed, skipped (the triggers)
LAG_SUM = "status_lag_seconds_sum"
LAG_COUNT = "status_lag_count"
WEBHOOK = "webhook_"        # + messages|status, _, accepted|duplicate|forbidden|invalid


def webhook(endpoint, outcome):
    """The counter of one webhook's requests with one outcome."""
    return f"{WEBHOOK}{endpoint}_{outcome}"


def add(conn, name, amount=1):
    """Add to a counter inside the caller's write transaction."""
    conn.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) "
                 "DO UPDATE SET value = value + excluded.value", (name, amount))


def add_now(database, name, amount=1):
    """Add to a counter in a write of its own (for requests that write nothing else)."""
    with write(database) as conn:
        add(conn, name, amount)


def values(conn):
    """{name: value} of every counter."""
    return dict(conn.execute("SELECT name, value FROM counters"))
