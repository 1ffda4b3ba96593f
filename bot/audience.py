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


def chart(rows, width=360, height=170, margin=18):
    """Bar geometry for a server-drawn SVG: no chart library, no script, no inline style."""
    top = max([1] + [max(sub, unsub) for _, sub, unsub in rows])
    plot_height = height - 2 * margin
    slot = (width - margin) / max(1, len(rows))
    bar = max(1.0, slot / 2 - 1)
    bars = []
    for index, (day, sub, unsub) in enumerate(rows):
        x = margin + index * slot
        for offset, value, kind in ((0, sub, "subscribed"), (bar, unsub, "unsubscribed")):
            h = plot_height * value / top
            bars.append({"x": round(x + offset, 1), "y": round(height - margin - h, 1),
                         "width": round(bar, 1), "height": round(h, 1), "kind": kind,
                         "day": day, "value": value})
    labels = [{"x": round(margin + index * slot, 1), "text": day.strftime("%d.%m.")}
              # a date label needs about four bars' width; the last week's would be cut off
              for index, (day, _, _) in enumerate(rows)
              if index % 7 == 0 and index <= len(rows) - 4]
    return {"width": width, "height": height, "margin": margin, "top": top, "bars": bars,
            "labels": labels, "baseline": height - margin}
