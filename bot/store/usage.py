"""Messages delivered, counted per UTC hour, broadcast and template category
(``message_usage``): what the month's cost estimate and the month's report read.

Broadcast messages are counted by a trigger (schema.sql, 0024_message_usage) when the platform
reports one delivered; answers to citizens by ``reply_sent`` when they go (Twilio's in the
webhook's answer, Meta's when the worker sent them). Counts only: no number, no text.
"""

import json
from datetime import datetime, timezone

from .db import to_iso

REPLIES = 0  # the broadcast_id of answers to citizens
SERVICE = "service"  # their category
MAIN = ""  # the category of a broadcast written before categories were kept: today's main one


def hour(moment=None):
    """The row key of the UTC hour ``moment`` (aware datetime; default: now) falls in."""
    return (moment or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(
        "%Y-%m-%dT%H")


def reply_sent(conn, count=1):
    """Count answers to citizens that went out, inside the caller's write transaction."""
    if count:
        conn.execute(
            "INSERT INTO message_usage (hour, broadcast_id, category, n) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (hour, broadcast_id, category) DO UPDATE SET n = n + excluded.n",
            (hour(), REPLIES, SERVICE, count))


def by_category(conn, start, end):
    """{category: messages} delivered in [start, end) (aware datetimes, on whole hours)."""
    return dict(conn.execute(
        "SELECT category, sum(n) FROM message_usage WHERE hour >= ? AND hour < ? "
        "GROUP BY category", (hour(start), hour(end))))


def by_broadcast(conn, start, end):
    """[(broadcast_id, category, messages)] delivered in [start, end), by broadcast id
    (answers first, under ``REPLIES``)."""
    return conn.execute(
        "SELECT broadcast_id, category, sum(n) FROM message_usage WHERE hour >= ? AND hour < ? "
        "GROUP BY broadcast_id, category ORDER BY broadcast_id, category",
        (hour(start), hour(end))).fetchall()


def in_flight(conn, start=None, end=None):
    """{category: messages} of broadcasts going out (queued, sending or paused) still queued,
    or sent and not yet reported delivered (nor failed): committed, not yet charged. Also
    those sent and not yet reported delivered of broadcasts that finished (done or
    cancelled) in [``start``, ``end``) (aware datetimes; None: none of them): the sender is
    done with them, but their receipts, and the charge, may come minutes later. Read from
    their counts (``delivery_counts``); only a broadcast whose languages' templates differ in
    category is split by its deliveries' own. Categories as in ``message_usage``."""
    counts = {}
    finished = (to_iso(start), to_iso(end)) if start is not None else ("", "")
    going = conn.execute(
        "SELECT b.id, coalesce(b.category, ''), b.language_categories, "
        "b.status IN ('done', 'cancelled'), sum(c.n) "
        "FROM broadcasts b JOIN delivery_counts c ON c.broadcast_id = b.id "
        "WHERE (b.status IN ('queued', 'sending', 'paused') AND c.bucket IN ('queued', 'sent') "
        "  OR b.status IN ('done', 'cancelled') AND b.finished_at >= ? AND b.finished_at < ? "
        "     AND c.bucket = 'sent') "
        "GROUP BY b.id", finished).fetchall()
    for broadcast_id, category, others, done, messages in going:
        buckets = "('sent')" if done else "('queued', 'sent')"
        split = [(category, messages)] if not others else conn.execute(
            "SELECT coalesce(category, ?), count(*) FROM deliveries "
            f"WHERE broadcast_id = ? AND bucket IN {buckets} GROUP BY 1",
            (category, broadcast_id)).fetchall()
        for each, number in split:
            counts[each] = counts.get(each, 0) + number
    return counts


def scheduled(conn, since, until, exclude=None):
    """[(category, language_categories, recipients)] of broadcasts scheduled to start in
    [``since``, ``until``) (ISO times; ``since`` None: any time before ``until``), but
    ``exclude`` (a broadcast's id). ``recipients``: as stored when it was scheduled or last
    edited."""
    return conn.execute(
        "SELECT coalesce(category, ''), language_categories, recipients FROM broadcasts "
        "WHERE status = 'scheduled' AND send_at < ? AND send_at >= coalesce(?, '') "
        "AND id IS NOT ?", (until, since, exclude)).fetchall()


def categories_columns(categories):
    """(category, language_categories) columns of a broadcast for the template categories
    ``{None: the main language's, code: …}``: the further languages only where they differ."""
    if not categories:
        return None, None
    main = categories.get(None)
    other = {code: category for code, category in categories.items()
             if code is not None and category and category != main}
    return main, json.dumps(other, sort_keys=True) if other else None


def delivery_category(language_categories):
    """SQL (expression, params) for a new delivery's category, from the subscriber's
    ``language`` column: NULL unless that language's template is of another category."""
    other = json.loads(language_categories) if language_categories else {}
    if not other:
        return "NULL", ()
    cases = " ".join("WHEN ? THEN ?" for _ in other)
    return f"CASE language {cases} END", tuple(
        value for pair in sorted(other.items()) for value in pair)
