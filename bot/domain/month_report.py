"""The month in numbers, for the county's accounts: per calendar month (``TIMEZONE``), the
broadcasts whose messages were delivered in it, how many of each template category, the
answers to citizens, what they cost (estimated, as ``costs.month_spent`` does) and the budget.

One source for the console's page, ``GET /api/costs`` and ``scripts/flask costs report``.
Counts only: no number, no hash, no text of a message.
"""

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from ..store import usage
from . import costs

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class InvalidMonth(Exception):
    """Not a month this report can be for; the message says why, in plain words."""


def parse_month(text):
    """"2026-12" → (2026, 12); InvalidMonth for anything else."""
    found = _MONTH.match(text.strip()) if isinstance(text, str) else None
    if not found:
        raise InvalidMonth("month must be YYYY-MM, e.g. 2026-12")
    year, number = int(found.group(1)), int(found.group(2))
    if not 1 <= number <= 12:
        raise InvalidMonth("month must be YYYY-MM with a month from 01 to 12")
    if not 2000 <= year <= 2100:
        raise InvalidMonth("month is out of range (years 2000 to 2100)")
    return year, number


def this_month(settings, now=None):
    """(year, month) of now in ``TIMEZONE``."""
    local = (now or datetime.now(timezone.utc)).astimezone(ZoneInfo(settings["TIMEZONE"]))
    return local.year, local.month


def _amount(value):
    return None if value is None else float(costs.money(value))


def report(conn, settings, month):
    """The month ``(year, month)`` as a JSON-ready dict: ``month``, ``currency``,
    ``broadcasts`` ([{id, started_at, urgent, over_budget, delivered: {category: n},
    messages, cost}]), ``replies`` ({messages, cost}), ``delivered`` ({category: n}, answers
    under "service"), ``unpriced`` (messages of a category without a price, counted 0),
    ``total``, ``budget`` and ``remaining`` (null without a budget). Money as numbers rounded
    to a hundredth of a cent."""
    start, end = costs.month_bounds(settings, month)
    main = settings["TEMPLATE_CATEGORY"]
    rows, replies, delivered, unpriced = {}, 0, {}, 0
    for broadcast_id, category, messages in usage.by_broadcast(conn, start, end):
        if broadcast_id == usage.REPLIES:
            replies += messages
        else:
            row = rows.setdefault(broadcast_id, {})
            row[category or main] = row.get(category or main, 0) + messages
        name = category or main
        delivered[name] = delivered.get(name, 0) + messages
        if costs.category_price(settings, category) is None:
            unpriced += messages
    facts = _facts(conn, list(rows))
    broadcasts = []
    for broadcast_id, counts in rows.items():
        fact = facts.get(broadcast_id, {})
        broadcasts.append({
            "id": broadcast_id, "started_at": fact.get("started_at"),
            "urgent": bool(fact.get("urgent")), "over_budget": bool(fact.get("over_budget")),
            "delivered": counts, "messages": sum(counts.values()),
            "cost": _amount(costs.priced(settings, counts))})
    total = costs.priced(settings, delivered)
    budget = settings.get("MONTHLY_BUDGET")
    return {
        "month": f"{month[0]:04d}-{month[1]:02d}", "currency": settings["CURRENCY"],
        "broadcasts": broadcasts,
        "replies": {"messages": replies,
                    "cost": _amount(costs.priced(settings, {usage.SERVICE: replies}))},
        "delivered": delivered, "unpriced": unpriced, "total": _amount(total),
        "budget": _amount(budget),
        "remaining": None if budget is None else _amount(budget - total)}


def _facts(conn, ids):
    """{id: {started_at, urgent, over_budget}} of the broadcasts still stored (the counts stay
    when retention removed a broadcast)."""
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    return {row[0]: {"started_at": row[1], "urgent": row[2], "over_budget": row[3]}
            for row in conn.execute(
                "SELECT id, coalesce(started_at, created_at), urgent, over_budget "
                f"FROM broadcasts WHERE id IN ({marks})", ids)}


CSV_HEADER = ("row", "broadcast", "started_at", "urgent", "over_budget", "marketing",
              "utility", "service", "messages", "cost", "currency")


def csv_rows(found):
    """The report as CSV rows (after ``CSV_HEADER``): one per broadcast, one for the answers
    to citizens, one for the month's total."""
    currency = found["currency"]
    out = []
    for b in found["broadcasts"]:
        counts = b["delivered"]
        out.append(("broadcast", b["id"], b["started_at"] or "", int(b["urgent"]),
                    int(b["over_budget"]), counts.get("marketing", 0), counts.get("utility", 0),
                    0, b["messages"], _text(b["cost"]), currency))
    replies = found["replies"]
    out.append(("replies", "", "", "", "", 0, 0, replies["messages"], replies["messages"],
                _text(replies["cost"]), currency))
    delivered = found["delivered"]
    out.append(("total", "", "", "", "", delivered.get("marketing", 0),
                delivered.get("utility", 0), delivered.get("service", 0),
                sum(delivered.values()), _text(found["total"]), currency))
    return out


def _text(amount):
    return "" if amount is None else f"{amount:.4f}"
