"""Who follows the channel: who a broadcast reaches, how many get which topic and language,
and how that changed day by day. Counts only; nothing here returns a hash or a number of a
person.
"""

import json
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .db import to_iso


def reached_by(urgent, topics, alias="subscribers"):
    """(SQL condition on the subscribers table, parameters) for who gets a broadcast.

    Urgent: every subscriber, whatever they chose (a warning is for everyone). With topics:
    the subscribers of any of them, and those of everything. Without: those of everything.
    """
    if urgent:
        return "1", ()
    if topics:
        return (f"({alias}.all_topics = 1 OR {alias}.id IN (SELECT subscriber_id FROM "
                "subscriber_topics WHERE topic IN (SELECT value FROM json_each(?))))",
                (json.dumps(list(topics)),))
    return f"{alias}.all_topics = 1", ()


def count(conn, urgent=False, topics=()):
    condition, params = reached_by(urgent, topics)
    return conn.execute(f"SELECT count(*) FROM subscribers WHERE {condition}",
                        params).fetchone()[0]


def by_language(conn, main, urgent=True, topics=()):
    """{language code: subscribers who read it}; of those a broadcast reaches when it is given
    (``urgent`` False and its ``topics``), else of everyone."""
    condition, params = reached_by(urgent, topics)
    return dict(conn.execute(
        f"SELECT coalesce(language, ?), count(*) FROM subscribers WHERE {condition} "
        "GROUP BY 1 ORDER BY 2 DESC", (main, *params)).fetchall())


def by_topic(conn, slugs, everything=None):
    """{slug: subscribers who get that topic} (subscribers of everything count for each).
    ``everything``: how many get everything, when the caller counted them already (a pass
    over all subscribers); the topics' own are read from their index, those asked for only."""
    if everything is None:
        everything = conn.execute("SELECT count(*) FROM subscribers WHERE all_topics = 1"
                                  ).fetchone()[0]
    chosen = dict(conn.execute(
        "SELECT topic, count(*) FROM subscriber_topics "
        "WHERE topic IN (SELECT value FROM json_each(?)) GROUP BY topic",
        (json.dumps(list(slugs)),)).fetchall())
    return {slug: everything + chosen.get(slug, 0) for slug in slugs}


def daily(conn, days, tz_name, today=None):
    """[(local date, subscriptions, cancellations)] for the last ``days`` days, oldest first.

    Days are local days (a Start at 00:30 in Berlin belongs to that day, not to the day before
    in UTC), so the grouping happens here rather than in SQL.
    """
    tz = ZoneInfo(tz_name)
    today = today or datetime.now(tz).date()
    first = today - timedelta(days=days - 1)
    since = to_iso(datetime.combine(first, time(0), tz).astimezone(timezone.utc))
    counts = {first + timedelta(days=n): [0, 0] for n in range(days)}
    for action, at in conn.execute(
            "SELECT action, at FROM consent_events WHERE at >= ?", (since,)):
        day = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(tz).date()
        if day in counts:
            counts[day][0 if action == "subscribe" else 1] += 1
    return [(day, sub, unsub) for day, (sub, unsub) in sorted(counts.items())]
