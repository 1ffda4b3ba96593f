"""A broadcast's plan, before it goes: whom it reaches, when the last citizen has it, how many
of them WhatsApp lets us reach today, what it costs and what that leaves of the month's budget.

One function (``of``) for every place a broadcast is decided (the API, the console's
confirmation page, the CLI), so that they all tell the same. It reads and writes nothing.

- Time: the sender works urgent broadcasts first, then the oldest, and answers to citizens
  before any of them, all through one rate (``SEND_RATE_LIMIT``; pictures also at most
  ``SEND_RATE_LIMIT_MEDIA``). So the last citizen has it after what is ahead in the queue
  and the broadcast itself, each at its rate. Scheduled ones join the queue at their time,
  not before, with the recipients they stored when scheduled: the plan works the queue
  through in time order as the sender will.
- Reach: WhatsApp lets a business reach ``MESSAGING_LIMIT_24H`` different people with
  templates in a rolling 24 hours. Recipients we already reached in that time do not count
  again; new ones fit into what is left; the rest can go once enough of the others have
  been 24 hours without a message from us (the sender tries again by itself).
- Cost: each recipient's language has its template, and each template its category
  (``TEMPLATE_CATEGORIES``), priced by ``costs.per_message``.
- Month: the calendar month the broadcast goes out in (a scheduled one: its start's), as the
  budget judges it (``budget.standing``): spent so far, committed and not delivered yet.
- Warnings: each a sentence a press officer understands, in German (the console shows them
  as they are; the API answers the same), with a code beside it for programs
  (``warning_codes``, in the same order).

A long module, because the four answers share what they read (the audience by language, the
start) and the plan must stay one read of the database; each answer is a function of its own.
"""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from ..store import audience, reach, replies
from ..store.db import to_iso
from . import budget, costs

DAY = 24 * 3600
# Longer than this to the last citizen, and a warning says so: a warning that reaches the
# last reader a quarter of an hour late may come too late.
LONG_SECONDS = 600

# The warnings' codes (a contract, like the JSON's field names).
NOT_REACHABLE = "not_reachable_today"
LONG = "long"
OVER_BUDGET = "over_budget"
PICTURE_SLOWER = "picture_slower"
NO_PRICE = "no_price"
CODES = (NOT_REACHABLE, LONG, PICTURE_SLOWER, OVER_BUDGET, NO_PRICE)


def of(conn, settings, fields, now=None):
    """The plan of a broadcast made of ``fields`` (``announcements.check``'s output) if it
    were created at ``now`` (a datetime; default: now), as the API answers it."""
    now = now or datetime.now(timezone.utc)
    start = max(now, _moment(fields["send_at"])) if fields.get("send_at") else now
    urgent, topics = fields["urgent"], fields.get("topics") or []
    since = start.timestamp() - DAY
    # One pass over the subscribers counts what the plan asks of them: its own audience.
    # The scheduled broadcasts come with the recipients they stored, so that however many
    # there are the census stays one bounded query.
    queue = _queue(conn, settings, fields, now, start)
    own = reach.audience_of(urgent, json.dumps(topics))
    census = reach.census(conn, settings["MAIN_LANGUAGE"], since, own)
    languages = census.counts(own)
    recipients = sum(languages.values())
    already = sum(census.reached.values())
    time = _time(queue, recipients)
    reachable_now, reachable_at = _reach(conn, settings, urgent, topics, recipients, already,
                                         start, census)
    cost = _cost(settings, languages)
    month = _month(conn, settings, fields, now, cost["total"])
    plan = {
        "recipients": recipients,
        "by_language": languages,
        "by_topic": audience.by_topic(conn, topics, census.all_topics) if topics else {},
        "seconds_to_last": time["seconds"],
        "starts_at": to_iso(start),
        "finishes_at": to_iso(start + timedelta(seconds=time["seconds"])),
        "rate": time["rate"],
        "queue_ahead": time["ahead"],
        "reachable_now": reachable_now,
        "reachable_at": reachable_at and to_iso(reachable_at),
        "messaging_limit": settings["MESSAGING_LIMIT_24H"] or None,
        "cost": cost,
        "month": month,
    }
    codes, texts = _warnings(settings, fields, plan, reachable_at, now)
    plan["warnings"], plan["warning_codes"] = texts, codes
    return plan


def refreshed(conn, settings, fields, plan, now=None):
    """``plan`` (``of``'s answer for ``fields``) with its month read again, as it stands at
    ``now``: read inside the write transaction, because another broadcast may have been
    committed to the month since the plan was made (two sent at the same moment must not
    both pass the budget). The same dict when the month did not move, else a copy with the
    month and the warnings as they are now. Cheap: the month is counts kept by the database
    and the recipients each scheduled broadcast stored."""
    now = now or datetime.now(timezone.utc)
    month = _month(conn, settings, fields, now, plan["cost"]["total"])
    if month == plan["month"]:
        return plan
    fresh = dict(plan, month=month)
    reachable_at = plan["reachable_at"] and _moment(plan["reachable_at"])
    fresh["warning_codes"], fresh["warnings"] = _warnings(settings, fields, fresh,
                                                          reachable_at, now)
    return fresh


def _moment(iso):
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _queue(conn, settings, fields, now, start):
    """What the sender has to work through with ours, as ``_sending`` takes it: (waiting,
    scheduled [(seconds from now, order, recipients as stored, seconds each)], ours without its number
    of messages, ours' rate)."""
    text_rate = settings["SEND_RATE_LIMIT"]
    # The number's rate caps all it sends: a picture rate above it is paced at the number's.
    picture_rate = min(settings["SEND_RATE_LIMIT_MEDIA"] or text_rate, text_rate)
    urgent = bool(fields["urgent"])
    rate = picture_rate if fields.get("media_url") else text_rate

    def each(picture):
        return 1 / (picture_rate if picture else text_rate)

    # Everything ahead of ours is already written, so older: only urgent ones go before an
    # urgent one, and the others by the sender's order.
    waiting = [(_order(True, 0), replies.pending(conn), 1 / text_rate)]
    waiting += [(_order(late, number), messages, each(picture))
                for number, late, picture, messages in reach.waiting(conn, urgent)]
    scheduled = [(max(0.0, (_moment(send_at) - now).total_seconds()), _order(late, number),
                  messages, each(picture))
                 for number, late, picture, messages, send_at in reach.scheduled(conn, urgent)]
    begins = (start - now).total_seconds()
    return waiting, scheduled, (begins, _order(urgent, None), None, 1 / rate), rate


def _time(queue, recipients):
    """Seconds from the start to the last recipient, with the messages of others sent
    meanwhile, as the sender works its queue (``_sending``); each scheduled broadcast with
    the recipients it stored."""
    waiting, scheduled, (begins, order, _, pace), rate = queue
    seconds, ahead = _sending(waiting, scheduled, (begins, order, recipients, pace))
    return {"seconds": round(seconds - begins, 1), "rate": rate, "ahead": round(ahead)}


def _order(urgent, number):
    """Where a broadcast stands in the sender's queue (lowest first): answers to citizens
    (``number`` 0), then urgent broadcasts, then the others, each the oldest first; one not
    yet written (``number`` None) is the newest."""
    return (0 if number == 0 else 1 if urgent else 2,
            float("inf") if number is None else number)


def _sending(waiting, joining, ours):
    """(seconds from now to ours' last message, messages of others sent from ours' start to
    then), the sender simulated: one message at a time, at each one's pace, always of the
    first in its order.

    ``waiting``: [(order, messages, seconds each)] in the queue now; ``joining``: [(seconds
    from now, order, messages, seconds each)] scheduled; ``ours`` the same, last in its
    order of all. What waits now drains from now; each scheduled one joins at its time and,
    if it stands before ours, goes before it even after ours started. A few steps per
    broadcast: cheap."""
    queue = [[order, messages, seconds] for order, messages, seconds in waiting if messages]
    joins = sorted(joining + [ours], key=lambda join: join[0])
    clock, ahead, started = 0.0, 0.0, False
    for at, order, messages, seconds in joins + [(float("inf"), None, None, None)]:
        while queue and clock < at:
            first = min(queue)
            order_first, left, pace = first
            if clock + left * pace <= at:
                clock += left * pace
                queue.remove(first)
                if order_first == ours[1]:
                    return clock, ahead
            else:
                left = (at - clock) / pace
                first[1] -= left
                clock = at
            ahead += left if started and order_first != ours[1] else 0
        if order is None:
            break
        clock = max(clock, at)
        started = started or order == ours[1]
        if messages or order == ours[1]:
            queue.append([order, messages, seconds])
    return clock, ahead


def _reach(conn, settings, urgent, topics, recipients, already, start, census):
    """(recipients WhatsApp lets us reach at the start, when the rest can go or None).
    ``already``: recipients we reached in the 24 hours before the start."""
    limit = settings["MESSAGING_LIMIT_24H"]
    if not limit or not recipients:
        return recipients, None
    since = start.timestamp() - DAY
    reached = reach.citizens_since(conn, since, census.reached_since)
    new = recipients - already
    room = limit - reached
    if new <= room:
        return recipients, None
    # Each citizen who leaves the window makes room for one more; those of this broadcast
    # who were reached already stay in it (they get this one too).
    # Fewer others reached in the window than are needed (those we reached, less this
    # broadcast's): none leaves in time, and no need to look for whom.
    last = (reach.nth_leaving(conn, since, urgent, topics, new - room)
            if new - room <= reached - already else None)
    at = (datetime.fromtimestamp(last, timezone.utc) + timedelta(seconds=DAY)
          if last is not None else start + timedelta(seconds=DAY))
    return already + max(0, room), max(at, start)


def _amount(value):
    return None if value is None else float(costs.money(value))


def _cost(settings, languages):
    """Cost per template category of the recipients' languages, and in all."""
    categories = settings["TEMPLATE_CATEGORIES"]
    counts = {}
    for code, number in languages.items():
        category = categories.get(code) or settings["TEMPLATE_CATEGORY"]
        counts[category] = counts.get(category, 0) + number
    if not counts:
        counts[settings["TEMPLATE_CATEGORY"]] = 0
    split = {}
    total = Decimal(0)
    for category, number in counts.items():
        price = costs.per_message(settings, category)
        amount = None if price is None else Decimal(number) * price
        total = None if amount is None or total is None else total + amount
        split[category] = {"recipients": number, "per_message": _amount(price),
                           "total": _amount(amount)}
    single = next(iter(split)) if len(split) == 1 else None
    return {"category": single or "mixed",
            "per_message": split[single]["per_message"] if single else None,
            "platform_fee": _amount(settings["PLATFORM_FEE"]),
            "total": _amount(total), "currency": settings["CURRENCY"],
            "by_category": split}


def _month(conn, settings, fields, now, total):
    """The calendar month the broadcast goes out in (a scheduled one: its start's): what it
    has cost so far, what is committed to it and not delivered yet (sending now, scheduled
    for it), and the budget; ``after``: all that with this broadcast. The budget's verdict
    reads the same figures (``budget.standing``)."""
    spent, committed = budget.standing(conn, settings, fields.get("send_at"), now)
    after = None if total is None else spent + committed + Decimal(str(total))
    first, _ = costs.month_bounds(settings, now=budget.start(fields.get("send_at"), now))
    return {"spent": _amount(spent), "committed": _amount(committed),
            "budget": _amount(settings["MONTHLY_BUDGET"]), "after": _amount(after),
            "calendar_month": f"{first:%Y-%m}"}


# -- the warnings, in plain German for the press office -----------------------------------------

def _warnings(settings, fields, plan, reachable_at, now):
    zone = ZoneInfo(settings["TIMEZONE"])
    found = []
    limit = settings["MESSAGING_LIMIT_24H"]
    if plan["reachable_now"] < plan["recipients"]:
        found.append((NOT_REACHABLE, (
            f"Heute erreicht die Meldung nur {_number(plan['reachable_now'])} von "
            f"{_number(plan['recipients'])} Abonnentinnen und Abonnenten: WhatsApp lässt uns "
            f"in 24 Stunden höchstens {_number(limit)} verschiedene Menschen anschreiben. "
            f"Die Übrigen ({_number(plan['recipients'] - plan['reachable_now'])}) bekommen sie "
            f"{_when(reachable_at, now, zone)}; das System sendet sie dann von selbst.")))
    if plan["seconds_to_last"] > LONG_SECONDS:
        ahead = (f", weil {_number(plan['queue_ahead'])} Nachrichten vorher an der Reihe sind"
                 if plan["queue_ahead"] else "")
        found.append((LONG, (
            f"Bis die letzte Person die Meldung hat, dauert es etwa "
            f"{_duration(plan['seconds_to_last'])}{ahead}.")))
    text_rate = settings["SEND_RATE_LIMIT"]
    if fields.get("media_url") and plan["rate"] < text_rate:
        found.append((PICTURE_SLOWER, (
            f"Mit Bild geht der Versand langsamer: {_number(plan['rate'])} statt "
            f"{_number(text_rate)} Nachrichten pro Sekunde. Ohne Bild wäre die Meldung "
            "schneller bei allen.")))
    month = plan["month"]
    currency = plan["cost"]["currency"]
    if month["budget"] is not None and month["after"] is not None \
            and month["after"] > month["budget"]:
        found.append((OVER_BUDGET, (
            f"Mit dieser Meldung wird das Monatsbudget von {_money(month['budget'], currency)} "
            f"überschritten: danach sind {_month_words(month, now, zone)} etwa "
            f"{_money(month['after'], currency)} ausgegeben"
            f"{' oder schon verplant' if month['committed'] else ''}.")))
    elif month["budget"] is not None and plan["cost"]["total"] is None:
        found.append((NO_PRICE, (
            "Für diese Meldung ist kein Preis eingestellt: ob sie das Monatsbudget "
            "überschreitet, lässt sich nicht sagen.")))
    return [code for code, _ in found], [text for _, text in found]


def _month_words(month, now, zone):
    """"in diesem Monat", or "im Monat 01/2027" for a broadcast scheduled into another."""
    if month["calendar_month"] == f"{now.astimezone(zone):%Y-%m}":
        return "in diesem Monat"
    year, number = month["calendar_month"].split("-")
    return f"im Monat {number}/{year}"


def _number(value):
    """1600 → "1.600"; 12.5 → "12,5"."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{int(value):,}".replace(",", ".")


def _money(amount, currency):
    text = f"{amount:,.2f}".replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{text} €" if currency == "EUR" else f"{text} {currency}"


def _duration(seconds):
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} Minuten"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} Std. {minutes} Min."


def _when(moment, now, zone):
    local = moment.astimezone(zone)
    today = now.astimezone(zone).date()
    day = ("heute" if local.date() == today
           else "morgen" if local.date() == today + timedelta(days=1)
           else f"am {local:%d.%m.%Y}")
    return f"ab {day} um {local:%H:%M} Uhr"
