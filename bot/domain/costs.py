"""What messages cost, estimated: recipients × ``PRICE_PER_MESSAGE`` (in ``PRICE_CURRENCY``).

An estimate, and said to be one: the platform charges per delivered template message, by
category, and adds its own fee (the operator sets the price that applies to the channel).
None where no price is configured.
"""

from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from ..store import audience, broadcasts
from ..store.db import to_iso


def estimate(messages, settings):
    """{"amount": messages × price, "currency": …}, or None without a price."""
    price = settings.get("PRICE_PER_MESSAGE")
    if price is None:
        return None
    amount = (Decimal(messages) * price).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return {"amount": float(amount), "currency": settings["PRICE_CURRENCY"]}


def messages_for(conn, broadcast):
    """How many messages a broadcast's estimate is for: those it went or goes to, or for one
    held (a draft, one waiting for approval), those it would reach if it went out now."""
    if broadcast["recipients"] or broadcast["status"] not in broadcasts.HELD:
        return broadcast["recipients"]
    return audience.count(conn, broadcast["urgent"], broadcast["topics"])


def month_so_far(conn, settings, now=None):
    """(messages sent this calendar month, local time, their estimated cost or None)."""
    zone = ZoneInfo(settings["TIMEZONE"])
    local = (now or datetime.now(timezone.utc)).astimezone(zone)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    messages = broadcasts.messages_since(conn, to_iso(start))
    return messages, estimate(messages, settings)
