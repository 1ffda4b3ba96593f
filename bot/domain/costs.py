"""What messages cost, estimated: recipients × (the price of the template's category +
``PLATFORM_FEE``), in ``CURRENCY``.

An estimate, and said to be one: the platform charges per delivered template message, by
category (``PRICE_MARKETING``, ``PRICE_UTILITY``; ``PRICE_PER_MESSAGE`` where a category has
no price of its own), and a reseller adds its fee per message. None where no price is
configured.

The month's spending (``month_spent``) is estimated from what was delivered, counted by the
database as it happens (``store.usage``): broadcast messages by the category of the template
they went out with, answers to citizens at ``PRICE_SERVICE``, each with the fee. What is on
its way but not delivered yet (``month_committed``: sending now or awaiting receipts, or
scheduled for the month) is apart: the budget counts it, the month's report does not. A
category without a price counts as 0 there (the month's report names those messages as
unpriced): an estimate must not stop a warning, and a missing price is the operator's to set.
"""

import json
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from ..store import broadcasts, usage
from ..store.db import to_iso


def per_message(settings, category=None):
    """What one message of a category costs with the platform's fee (a Decimal), or None
    without a price for it. ``category``: "marketing", "utility" or "service" (a reply);
    None: the main language's template category."""
    price = settings["PRICES"][category or settings["TEMPLATE_CATEGORY"]]
    return None if price is None else price + settings["PLATFORM_FEE"]


def money(amount):
    """A Decimal amount rounded to a hundredth of a cent, as the answers carry it."""
    return amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def estimate(messages, settings, category=None):
    """{"amount": messages × price of the category with the fee, "currency": …}, or None
    without a price."""
    price = per_message(settings, category)
    if price is None:
        return None
    return {"amount": float(money(Decimal(messages) * price)), "currency": settings["CURRENCY"]}


def messages_for(conn, broadcast):
    """How many messages a broadcast's estimate is for: those it went or goes to, or for one
    held (a draft, one waiting for approval), those it would reach if it went out now."""
    if broadcast["recipients"] or broadcast["status"] not in broadcasts.HELD:
        return broadcast["recipients"]
    return broadcasts.would_reach(conn, broadcast["id"])  # a correction: its original's


def month_bounds(settings, month=None, now=None):
    """(start, end) of a calendar month in local time (``TIMEZONE``), as aware datetimes:
    ``month`` (year, month), or the one ``now`` (default: this moment) falls in."""
    zone = ZoneInfo(settings["TIMEZONE"])
    if month is None:
        local = (now or datetime.now(timezone.utc)).astimezone(zone)
        month = (local.year, local.month)
    year, number = month
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def category_price(settings, category):
    """What one delivered message of a stored category cost with the fee, or None without a
    price. ``usage.MAIN`` (a broadcast written before categories were kept): the main one."""
    return per_message(settings, category or None)


def priced(settings, counts):
    """The cost of {category: messages} as a Decimal; categories without a price count 0."""
    total = Decimal(0)
    for category, messages in counts.items():
        price = category_price(settings, category)
        if price is not None:
            total += messages * price
    return total


def month_spent(conn, settings, now=None):
    """What this calendar month's delivered messages cost, estimated (a Decimal): the month
    in ``TIMEZONE`` that ``now`` (default: this moment) falls in."""
    return priced(settings, usage.by_category(conn, *month_bounds(settings, now=now)))


def month_committed(conn, settings, start, now=None, exclude=None):
    """What is committed to the calendar month ``start`` (an aware datetime) falls in but not
    delivered yet, estimated (a Decimal): in this month, the messages of broadcasts going out
    now, or finished this month, that were not reported delivered yet (``usage.in_flight``),
    and in any month, the broadcasts scheduled to start in it, each to the recipients it
    stored when it was scheduled (or last edited), by its category. ``exclude``: a broadcast
    not to count (the one being judged). What waits for approval is not committed: approving
    it checks the month again.

    The stored count rather than the audience counted again: each distinct audience would
    cost a test on every subscriber, and many scheduled broadcasts would make every plan and
    every verdict (inside the write lock) slower without bound. A scheduled broadcast whose
    languages' templates differ in category is priced all at the dearest of them: an
    estimate that errs upwards, the safe side for a budget."""
    now = now or datetime.now(timezone.utc)
    this_month, scheduled = _scheduled(conn, settings, start, now, exclude)
    counts = usage.in_flight(conn, *month_bounds(settings, now=now)) if this_month else {}
    for category, others, recipients in scheduled:
        each = dearest(settings, category, json.loads(others).values() if others else ())
        counts[each] = counts.get(each, 0) + (recipients or 0)
    return priced(settings, counts)


def dearest(settings, category, others=()):
    """Of a broadcast's categories (``category``, its main language's, and ``others``), the
    one whose message costs the most; one without a price counts as nothing, as in
    ``priced``."""
    def price(each):
        found = category_price(settings, each)
        return Decimal(0) if found is None else found

    return max([category, *others], key=price)


def _scheduled(conn, settings, start, now, exclude):
    """(whether ``start``'s month is this one, [(category, language_categories, recipients)]
    of the broadcasts scheduled to start in it)."""
    first, end = month_bounds(settings, now=max(start, now))
    this_month = first <= now < end
    # A scheduled broadcast whose time has come starts now: this month's.
    return this_month, usage.scheduled(conn, None if this_month else to_iso(first),
                                       to_iso(end), exclude)


def month_so_far(conn, settings, now=None):
    """(messages delivered this calendar month, answers included, their estimated cost as
    ``estimate`` gives it, or None without a price for the main category): the same figures
    as the month's report, so that the console never shows two numbers for one month."""
    counts = usage.by_category(conn, *month_bounds(settings, now=now))
    if per_message(settings) is None:
        return sum(counts.values()), None
    return sum(counts.values()), {"amount": float(money(priced(settings, counts))),
                                  "currency": settings["CURRENCY"]}
