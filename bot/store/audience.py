"""How many people follow the channel, and how that changed day by day: counts only.

Read from ``consent_events``; nothing here returns a hash or a number of a person.
"""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .db import to_iso


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
