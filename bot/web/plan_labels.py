"""A broadcast's plan (``domain.plan.of``) in the German of a press office: how many it
reaches and in which languages, when the last message goes out, how many WhatsApp lets us
reach today, what it costs and what the month has cost.

Each function takes the plan's JSON values (numbers, ISO timestamps, nulls) and returns one
sentence or phrase; a null is said in words ("kein Preis eingetragen"), never shown as
nothing, so that an officer knows whether something is free or merely not known. Times are
local (``TIMEZONE``), said relative to today ("um 14:32 Uhr", "morgen ab 03:10 Uhr").
"""

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app

from .labels import money, number

# The template categories by the names Meta's invoices and the settings use.
CATEGORIES = {"marketing": "Marketing", "utility": "Utility",
              "service": "Antwort im 24-Stunden-Fenster"}


def category(code):
    return CATEGORIES.get(code, code)


def price(amount, currency):
    """A price per message, as exact as it is configured: 0.046 → "0,046 €", 0.05 → "0,05 €",
    0.0051 → "0,0051 €" (``money`` rounds to cents)."""
    whole, _, decimals = f"{Decimal(str(amount)):.4f}".rstrip("0").partition(".")
    figure = f"{number(int(whole))},{decimals.ljust(2, '0')}"
    return f"{figure} €" if currency == "EUR" else f"{figure} {currency}"


def _nearest(value):
    """Rounded half up, as one says a time (Python's round() goes to the even number)."""
    return math.floor(value + 0.5)


def duration(seconds):
    """How long something takes, as one says it: "wenigen Sekunden", "40 Sekunden",
    "2½ Minuten", "21 Minuten", "1 Stunde und 5 Minuten" (after "in" or "etwa")."""
    seconds = max(0, float(seconds))
    if seconds < 10:
        return "wenigen Sekunden"
    if seconds < 55:
        return f"{_nearest(seconds / 10) * 10} Sekunden"
    if seconds < 600:
        halves = max(2, _nearest(seconds / 30))
        whole, half = divmod(halves, 2)
        text = f"{whole}½" if half else str(whole)
        return f"{text} {'Minute' if halves == 2 else 'Minuten'}"
    minutes = _nearest(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} Minuten"
    said = f"{hours} {'Stunde' if hours == 1 else 'Stunden'}"
    if minutes:
        said += f" und {minutes} {'Minute' if minutes == 1 else 'Minuten'}"
    return said


def _zone(zone):
    return ZoneInfo(zone or current_app.config["TIMEZONE"])


def moment(iso, preposition="um", zone=None, now=None):
    """A UTC timestamp in local time, by its day: "um 14:32 Uhr" today, "morgen um 03:10 Uhr",
    else "am 24.12.2026 um 03:10 Uhr"; ``preposition``: "um" or "ab"."""
    local_zone = _zone(zone)
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(local_zone)
    today = (now or datetime.now(timezone.utc)).astimezone(local_zone).date()
    clock = f"{preposition} {when:%H:%M} Uhr"
    if when.date() == today:
        return clock
    if when.date() == today + timedelta(days=1):
        return f"morgen {clock}"
    return f"am {when:%d.%m.%Y} {clock}"


def languages(by_language, names, always=False):
    """" (2 auf Deutsch, 1 auf Englisch)" after the number of recipients, biggest first; where
    all read one language "" (or, ``always``, " (alle auf Deutsch)": a translation nobody
    reads)."""
    shown = [(code, count) for code, count in by_language.items() if count]
    if len(shown) == 1 and always:
        return f" (alle auf {names.get(shown[0][0], shown[0][0])})"
    if len(shown) < 2:
        return ""
    shown.sort(key=lambda item: -item[1])
    return " (" + ", ".join(f"{number(count)} auf {names.get(code, code)}"
                            for code, count in shown) + ")"


def timing(plan, start=None, zone=None, now=None):
    """When the last message goes out, and how long until then. ``start``: None when it goes
    now, "scheduled" when at its time (the plan counts from then), "approval" when after an
    approval not yet given (then only the duration is known)."""
    if not plan["recipients"]:
        return "Es gibt jetzt niemanden, an den die Meldung ginge."
    quick = plan["seconds_to_last"] < 10
    took = duration(plan["seconds_to_last"])
    when = None if plan["finishes_at"] is None or start == "approval" else \
        moment(plan["finishes_at"], "um", zone, now)
    if when is None:
        begin = {"approval": "Nach der Freigabe", "scheduled": "Vom geplanten Zeitpunkt an"
                 }.get(start, "Von jetzt an")
        if quick:
            return f"{begin} sind alle Nachrichten in wenigen Sekunden hinaus."
        return f"{begin} dauert es etwa {took} bis zur letzten Nachricht."
    said = f"Die letzte Nachricht geht voraussichtlich {when} hinaus"
    if start == "scheduled":
        return f"{said}, gleich zum geplanten Zeitpunkt." if quick else \
            f"{said} (etwa {took} nach dem geplanten Zeitpunkt)."
    return f"{said}, also sofort." if quick else f"{said} (in etwa {took})."


def reach(plan, zone=None, now=None):
    """How many WhatsApp lets us reach today, and when the rest can go."""
    recipients, now_reachable = plan["recipients"], plan["reachable_now"]
    if now_reachable is None or plan.get("messaging_limit", 0) is None:
        return ("Heute erreichbar: nicht geprüft, weil kein Tageslimit von WhatsApp eingetragen "
                "ist.")
    if now_reachable >= recipients:
        return "Heute erreichbar: alle." if recipients < 2 else \
            f"Heute erreichbar: alle {number(recipients)}."
    limited = (f"Heute erreichbar: {number(now_reachable)} von {number(recipients)} – WhatsApp "
               "begrenzt, wie viele verschiedene Personen diese Nummer in 24 Stunden anschreiben "
               "darf")
    if plan["reachable_at"] is None:
        return f"{limited}; der Rest erst, wenn WhatsApp das Limit erhöht."
    return f"{limited}; der Rest {moment(plan['reachable_at'], 'ab', zone, now)}."


def cost(plan):
    """"Kosten: ca. 552,00 € (Kategorie Marketing, 0,046 € je Nachricht)"; where languages'
    templates differ in category, each category with its share."""
    figures = plan["cost"]
    currency = figures["currency"]
    split = figures.get("by_category") or {}
    if len(split) > 1:
        parts = [f"{number(part['recipients'])} in der Kategorie {category(code)}"
                 + (f" zu {price(part['per_message'], currency)}"
                    if part["per_message"] is not None else " ohne Preis")
                 for code, part in sorted(split.items(), key=lambda item: -item[1]["recipients"])]
        if figures["total"] is None:
            unpriced = " und ".join(category(code) for code, part in split.items()
                                    if part["per_message"] is None)
            return (f"Kosten: nicht geschätzt, weil für die Kategorie {unpriced} kein Preis "
                    f"eingetragen ist ({', '.join(parts)}).")
        detail = ", ".join(parts)
    else:
        detail = f"Kategorie {category(figures['category'])}"
        if figures["total"] is None:
            return f"Kosten: nicht geschätzt, weil für die {detail} kein Preis eingetragen ist."
        if figures["per_message"] is not None:
            detail += f", {price(figures['per_message'], currency)} je Nachricht"
    if not plan["recipients"]:
        return "Kosten: keine, weil die Meldung jetzt niemanden erreicht."
    if figures["platform_fee"]:
        detail += f", darin je {price(figures['platform_fee'], currency)} Gebühr des Anbieters"
    return f"Kosten: ca. {money(figures['total'], currency)} ({detail})."


def month(plan, zone=None):
    """What the month the broadcast goes out in has cost so far and what is on its way to it,
    against the budget, and after this one."""
    figures, currency = plan["month"], plan["cost"]["currency"]
    spent, budget, after = figures["spent"], figures["budget"], figures["after"]
    which = _which_month(figures.get("calendar_month"), zone)
    # Without a price for this broadcast's category, the month's figure leaves out what such
    # messages cost: better no figure than one that looks complete.
    if spent is None or after is None:
        limit = f" (Budget {money(budget, currency)})" if budget is not None else ""
        return f"{which}: nicht geschätzt, weil kein Preis eingetragen ist{limit}."
    committed = figures.get("committed") or 0
    on_way = (f", dazu ca. {money(committed, currency)} schon gesendet oder geplant, aber "
              "noch nicht zugestellt" if committed else "")
    if budget is None:
        return (f"{which} bisher: ca. {money(spent, currency)}{on_way}; danach ca. "
                f"{money(after, currency)} (kein Monatsbudget festgelegt).")
    over = ""
    if after > budget:
        over = f" – {money(after - budget, currency)} über dem Budget"
    return (f"{which}: ca. {money(spent, currency)} von {money(budget, currency)} Budget"
            f"{on_way}; danach ca. {money(after, currency)}{over}.")


def _which_month(calendar_month, zone):
    """"Diesen Monat", or "Im Monat 01/2027" for a broadcast planned into another."""
    if not calendar_month or calendar_month == f"{datetime.now(_zone(zone)):%Y-%m}":
        return "Diesen Monat"
    year, number = calendar_month.split("-")
    return f"Im Monat {number}/{year}"
