"""Whom our broadcasts reached in the last 24 hours, and what waits in the sender's queue: what
a broadcast's plan (``domain.plan``) needs to know before it goes. Reads only; counts only.

WhatsApp counts the different people a business reaches with templates in a rolling 24 hours.
A delivery the platform accepted is ``state = 'sent'`` with ``sent_at`` (Unix time); one that
the messaging limit sent back to the queue is ``queued`` again and does not count. A delivery
whose citizen has left keeps no subscriber id (``subscribers._unlink_deliveries``): each such
one counts as a citizen of its own, which can only make the room look smaller, never larger.
"""

from . import audience

_SENT_SINCE = "FROM deliveries WHERE state = 'sent' AND sent_at >= ?"


def citizens_since(conn, since):
    """How many different citizens got a message from us since ``since`` (Unix time)."""
    return conn.execute(
        f"SELECT count(DISTINCT subscriber_id) + count(*) - count(subscriber_id) {_SENT_SINCE}",
        (since,)).fetchone()[0]


def recipients_since(conn, since, urgent, topics):
    """How many of a broadcast's recipients (``audience.reached_by``) got a message from us
    since ``since``."""
    condition, params = audience.reached_by(urgent, topics)
    return conn.execute(
        f"SELECT count(*) FROM subscribers WHERE {condition} AND id IN "
        f"(SELECT subscriber_id {_SENT_SINCE})", (*params, since)).fetchone()[0]


def nth_leaving(conn, since, urgent, topics, nth):
    """When the ``nth`` citizen who got a message since ``since`` and is not a recipient of
    this broadcast got their last one (Unix time), oldest first; None when fewer are there.
    24 hours later that many have left the platform's window."""
    condition, params = audience.reached_by(urgent, topics)
    row = conn.execute(
        f"SELECT max(sent_at) AS last {_SENT_SINCE} AND (subscriber_id IS NULL OR "
        f"subscriber_id NOT IN (SELECT id FROM subscribers WHERE {condition})) "
        "GROUP BY coalesce(subscriber_id, -id) ORDER BY last LIMIT 1 OFFSET ?",
        (since, *params, nth - 1)).fetchone()
    return None if row is None else row[0]


def waiting(conn, urgent_only=False):
    """[(picture, messages)]: what the sender still has to send of the broadcasts it works on
    (urgent ones alone when ``urgent_only``: a new urgent broadcast goes before the others),
    split by whether they carry a picture (paced at another rate)."""
    return conn.execute(
        "SELECT b.media_url IS NOT NULL, sum(c.n) FROM broadcasts b JOIN delivery_counts c "
        "ON c.broadcast_id = b.id AND c.bucket = 'queued' "
        "WHERE b.status IN ('queued', 'sending') AND (b.urgent = 1 OR NOT ?) GROUP BY 1",
        (bool(urgent_only),)).fetchall()


def scheduled_until(conn, until, urgent_only=False):
    """[(picture, urgent, topics as JSON)] of broadcasts scheduled to start by ``until`` (ISO
    time): they will be in the queue ahead of a broadcast that starts then."""
    return conn.execute(
        "SELECT media_url IS NOT NULL, urgent, topics FROM broadcasts "
        "WHERE status = 'scheduled' AND send_at <= ? AND (urgent = 1 OR NOT ?)",
        (until, bool(urgent_only))).fetchall()
