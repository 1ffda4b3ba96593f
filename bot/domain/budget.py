"""The monthly budget (``MONTHLY_BUDGET``): whether a broadcast would take the month's spending
over it, and what follows from that. The one place that decides; the console, the API, the
CLI and the warnings relay all ask here.

- Over the budget means: what this calendar month's delivered messages cost so far
  (``costs.month_spent``) plus this broadcast's estimated cost is more than the budget.
- In the console, such a broadcast from a publisher (or an editor) waits for an admin's
  approval instead of going: the county's money is the admin's decision. An admin who sends it
  does so knowingly (the confirmation page said it), and it goes.
- The API token and the operator's commands are machines acting for someone who decided
  already: theirs goes, with a warning in the answer.
- Urgent broadcasts and relayed official warnings are never held back by money.
Whatever goes over the budget is marked (``over_budget``, shown in the console's list and on
the broadcast's page) and its audit entry says so, with the figures.
"""

from dataclasses import dataclass
from decimal import Decimal

from ..store import audience
from . import authorship, costs


@dataclass(frozen=True)
class Verdict:
    """The month against the budget, for one broadcast: Decimals in ``CURRENCY``."""

    budget: Decimal
    spent: Decimal
    cost: Decimal

    @property
    def after(self):
        return self.spent + self.cost

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


def verdict(conn, settings, urgent, topics, now=None, cost=None):
    """The month against the budget with this broadcast (``cost``: its estimate, when the
    caller has one already), or None without a budget."""
    if settings.get("MONTHLY_BUDGET") is None:
        return None
    if cost is None:
        cost = broadcast_cost(conn, settings, urgent, topics)
    return Verdict(settings["MONTHLY_BUDGET"], costs.month_spent(conn, settings, now), cost)


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
            "cost": str(costs.money(found.cost)), "budget": str(costs.money(found.budget))}


def warning(found, currency):
    """The API's and the CLI's sentence for a broadcast over the budget, or None."""
    if not over(found):
        return None
    return (f"over the monthly budget: {costs.money(found.spent)} {currency} spent this month "
            f"+ about {costs.money(found.cost)} {currency} for this broadcast = "
            f"{costs.money(found.after)} {currency}, budget {costs.money(found.budget)} "
            f"{currency} (MONTHLY_BUDGET)")
