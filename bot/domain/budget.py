"""The monthly budget (``MONTHLY_BUDGET``): whether a broadcast would take the month's spending
over it, and what follows from that. The one place that decides; the console, the API, the
CLI and the warnings relay all ask here.

- Over the budget means: what the calendar month the broadcast goes out in has cost so far
  (``costs.month_spent``; nothing yet for a month to come), plus what is committed to it and
  not delivered yet (``costs.month_committed``: broadcasts going out now, those scheduled for
  it), plus this broadcast's estimated cost, is more than the budget. Judged when it is
  decided (created, sent, approved, edited), against the month as it stands then: a scheduled
  broadcast is not judged again when it starts.
- In the console, such a broadcast from a publisher (or an editor) waits for an admin's
  approval instead of going: the county's money is the admin's decision. An admin who sends it
  does so knowingly (the confirmation page said it), and it goes.
- The API token and the operator's commands are machines acting for someone who decided
  already: theirs goes, with a warning in the answer.
- Urgent broadcasts and relayed official warnings are never held back by money.
Whatever goes over the budget is marked (``over_budget``, shown in the console's list and on
the broadcast's page) and its audit entry says so, with the figures; the mark is the latest
verdict, so one judged again within the budget (approved after the budget was raised) loses it.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from ..store import audience
from . import authorship, costs


@dataclass(frozen=True)
class Verdict:
    """The month the broadcast goes out in against the budget: Decimals in ``CURRENCY``."""

    budget: Decimal
    spent: Decimal
    cost: Decimal
    committed: Decimal = Decimal(0)

    @property
    def after(self):
        return self.spent + self.committed + self.cost

    @property
    def over(self):
        return self.after > self.budget


def broadcast_cost(conn, settings, urgent, topics):
    """What a broadcast to those it reaches now would cost, estimated (a Decimal): each of its
    recipients at the price of their language's template category with the fee; a category
    without a price counts 0, as in ``costs.month_spent``."""
    main = settings["MAIN_LANGUAGE"]
    categories = settings["TEMPLATE_CATEGORIES"]
    if len(set(categories.values())) == 1:
        # One category for every language (the usual case): a count, no grouping.
        return costs.priced(settings, {categories[None]: audience.count(conn, urgent, topics)})
    counts = {}
    for code, number in audience.by_language(conn, main, urgent, topics).items():
        category = categories.get(code) or categories[None]
        counts[category] = counts.get(category, 0) + number
    return costs.priced(settings, counts)


def start(send_at=None, now=None):
    """When a broadcast goes out: its ``send_at`` (ISO time) if that is still to come, else
    ``now`` (default: this moment). An aware datetime."""
    now = now or datetime.now(timezone.utc)
    if not send_at:
        return now
    return max(now, datetime.fromisoformat(send_at.replace("Z", "+00:00")))


def standing(conn, settings, send_at=None, now=None, exclude=None):
    """(spent, committed) of the month a broadcast starting at ``send_at`` goes out in, as
    Decimals: the one source of the plan's month and of the verdict. Cheap (counts kept by
    the database, recipients stored with each scheduled broadcast): a verdict reads it inside
    the write lock."""
    now = now or datetime.now(timezone.utc)
    begins = start(send_at, now)
    return (costs.month_spent(conn, settings, begins),
            costs.month_committed(conn, settings, begins, now, exclude))


def verdict(conn, settings, urgent, topics, now=None, cost=None, send_at=None, exclude=None,
            month=None):
    """The month a broadcast (``send_at``: its time, if scheduled) goes out in against the
    budget with this broadcast, or None without a budget. ``cost``: its estimate, and
    ``month``: the plan's month ({"spent", "committed"}), when the caller has them already;
    ``exclude``: the broadcast's id once it exists, so that a scheduled one does not count
    twice."""
    if settings.get("MONTHLY_BUDGET") is None:
        return None
    if cost is None:
        cost = broadcast_cost(conn, settings, urgent, topics)
    if month is None:
        spent, committed = standing(conn, settings, send_at, now, exclude)
    else:
        spent, committed = (Decimal(str(month["spent"])), Decimal(str(month["committed"])))
    return Verdict(settings["MONTHLY_BUDGET"], spent, cost, committed)


def exempt(urgent, created_by):
    """Urgent broadcasts and relayed official warnings go whatever the budget says."""
    return bool(urgent) or authorship.relayed(created_by)


def over(found):
    return found is not None and found.over


def needs_admin(found, urgent, created_by, admin):
    """Whether a broadcast sent (or approved) from the console must wait for an admin: over
    the budget, not exempt, and the account (``admin``: whether it is one) is no admin. The
    machines (API token, commands) pass None and are never held."""
    return over(found) and not exempt(urgent, created_by) and admin is False


def details(found):
    """What the audit entry says of the budget: nothing within it, the figures over it."""
    if not over(found):
        return {}
    return {"over_budget": True, "month_spent": str(costs.money(found.spent)),
            "month_committed": str(costs.money(found.committed)),
            "cost": str(costs.money(found.cost)), "budget": str(costs.money(found.budget))}


def warning(found, currency):
    """The API's and the CLI's sentence for a broadcast over the budget, or None."""
    if not over(found):
        return None
    return (f"over the monthly budget: {costs.money(found.spent)} {currency} spent in the "
            f"month it goes out in + {costs.money(found.committed)} {currency} on its way "
            f"+ about {costs.money(found.cost)} {currency} for this broadcast = "
            f"{costs.money(found.after)} {currency}, budget {costs.money(found.budget)} "
            f"{currency} (MONTHLY_BUDGET)")
