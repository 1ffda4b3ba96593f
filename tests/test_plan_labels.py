"""A broadcast's plan in the press office's German: durations as one says them, prices as
exact as configured, times by their local day, and every null said in words."""

from datetime import datetime, timezone

import pytest

from bot.web import labels, plan_labels

BERLIN = "Europe/Berlin"
# 13:00 in Berlin (winter time: UTC+1).
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


def plan(**changes):
    """A plan as domain.plan.of answers it: 12,000 subscribers at 80 per second, a limit that
    lets 8,000 through today, marketing at 0.046 € with a budget."""
    base = {"recipients": 12000, "by_language": {"de": 10500, "en": 1500},
            "by_topic": {}, "seconds_to_last": 150.0, "finishes_at": "2026-12-07T13:32:00Z",
            "reachable_now": 8000, "reachable_at": "2026-12-08T02:10:00Z",
            "cost": {"category": "marketing", "per_message": 0.046, "platform_fee": 0.0,
                     "total": 552.0, "currency": "EUR"},
            "month": {"spent": 1200.0, "budget": 2000.0, "after": 1752.0}, "warnings": []}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = dict(base[key], **value)
        else:
            base[key] = value
    return base


def test_money_is_rounded_half_up_as_on_an_invoice():
    # The plan's amounts are floats: 0.015 is stored a hair below and formatted as 0,01.
    assert labels.money(0.015, "EUR") == "0,02 €"
    assert labels.money(1234.565, "USD") == "1.234,57 USD"
    assert labels.money(0.0, "EUR") == "0,00 €"


@pytest.mark.parametrize("seconds, said", [
    (0, "wenigen Sekunden"), (9.9, "wenigen Sekunden"), (40, "40 Sekunden"),
    (45, "50 Sekunden"), (59, "1 Minute"), (75, "1½ Minuten"), (150, "2½ Minuten"),
    (1260, "21 Minuten"), (3600, "1 Stunde"), (3660, "1 Stunde und 1 Minute"),
    (3900, "1 Stunde und 5 Minuten"), (7500, "2 Stunden und 5 Minuten")])
def test_a_duration_is_said_as_a_person_says_it(seconds, said):
    assert plan_labels.duration(seconds) == said


@pytest.mark.parametrize("amount, currency, said", [
    (0.046, "EUR", "0,046 €"), (0.05, "EUR", "0,05 €"), (0.0051, "EUR", "0,0051 €"),
    (0.113, "USD", "0,113 USD"), (1234.5, "EUR", "1.234,50 €")])
def test_a_price_per_message_is_as_exact_as_configured(amount, currency, said):
    assert plan_labels.price(amount, currency) == said


@pytest.mark.parametrize("iso, preposition, said", [
    ("2026-12-07T13:32:00Z", "um", "um 14:32 Uhr"),
    ("2026-12-08T02:10:00Z", "ab", "morgen ab 03:10 Uhr"),
    ("2026-12-24T17:00:00Z", "um", "am 24.12.2026 um 18:00 Uhr"),
    # Just after midnight in Berlin is tomorrow, though still today in UTC.
    ("2026-12-07T23:30:00Z", "um", "morgen um 00:30 Uhr")])
def test_a_time_is_local_and_said_by_its_day(iso, preposition, said):
    assert plan_labels.moment(iso, preposition, BERLIN, NOW) == said


def test_the_languages_follow_the_number_biggest_first_and_only_when_there_are_several():
    names = {"de": "Deutsch", "en": "Englisch", "tr": "Türkisch"}
    assert plan_labels.languages({"en": 1500, "de": 10500}, names) \
        == " (10.500 auf Deutsch, 1.500 auf Englisch)"
    assert plan_labels.languages({"de": 3, "tr": 0}, names) == ""
    assert plan_labels.languages({}, names) == ""
    # A translation that nobody reads: the officer sees that all read the main language.
    assert plan_labels.languages({"de": 3}, names, always=True) == " (alle auf Deutsch)"


def test_the_time_to_the_last_message():
    assert plan_labels.timing(plan(), zone=BERLIN, now=NOW) \
        == "Die letzte Nachricht geht voraussichtlich um 14:32 Uhr hinaus (in etwa 2½ Minuten)."
    assert plan_labels.timing(plan(seconds_to_last=0.2, finishes_at="2026-12-07T12:00:00Z"),
                              zone=BERLIN, now=NOW) \
        == "Die letzte Nachricht geht voraussichtlich um 13:00 Uhr hinaus, also sofort."
    # Going later, only the duration is known.
    assert plan_labels.timing(plan(), "approval") \
        == "Nach der Freigabe dauert es etwa 2½ Minuten bis zur letzten Nachricht."
    assert plan_labels.timing(plan(finishes_at="2026-12-24T08:02:30Z"), "scheduled",
                              BERLIN, NOW) == ("Die letzte Nachricht geht voraussichtlich am "
                                               "24.12.2026 um 09:02 Uhr hinaus (etwa 2½ Minuten "
                                               "nach dem geplanten Zeitpunkt).")
    assert plan_labels.timing(plan(seconds_to_last=3), "approval") \
        == "Nach der Freigabe sind alle Nachrichten in wenigen Sekunden hinaus."
    assert plan_labels.timing(plan(seconds_to_last=3, finishes_at="2026-12-24T08:00:03Z"),
                              "scheduled", BERLIN, NOW) == (
        "Die letzte Nachricht geht voraussichtlich am 24.12.2026 um 09:00 Uhr hinaus, gleich "
        "zum geplanten Zeitpunkt.")
    assert plan_labels.timing(plan(recipients=0)) \
        == "Es gibt jetzt niemanden, an den die Meldung ginge."


def test_the_reach_today_under_whatsapps_limit():
    assert plan_labels.reach(plan(), BERLIN, NOW) == (
        "Heute erreichbar: 8.000 von 12.000 – WhatsApp begrenzt, wie viele verschiedene "
        "Personen diese Nummer in 24 Stunden anschreiben darf; der Rest morgen ab 03:10 Uhr.")
    assert plan_labels.reach(plan(reachable_at=None), BERLIN, NOW).endswith(
        "; der Rest erst, wenn WhatsApp das Limit erhöht.")
    assert plan_labels.reach(plan(reachable_now=12000, reachable_at=None)) \
        == "Heute erreichbar: alle 12.000."
    assert plan_labels.reach(plan(recipients=1, reachable_now=1)) == "Heute erreichbar: alle."
    # Without a configured limit the plan counts everyone as reachable; the page says that it
    # could not check.
    assert plan_labels.reach(plan(reachable_now=12000, reachable_at=None, messaging_limit=None)) \
        == "Heute erreichbar: nicht geprüft, weil kein Tageslimit von WhatsApp eingetragen ist."


def test_the_cost_by_category_and_without_a_price():
    assert plan_labels.cost(plan()) \
        == "Kosten: ca. 552,00 € (Kategorie Marketing, 0,046 € je Nachricht)."
    with_fee = plan(cost={"category": "utility", "per_message": 0.051, "platform_fee": 0.005,
                          "total": 612.0})
    assert plan_labels.cost(with_fee) == ("Kosten: ca. 612,00 € (Kategorie Utility, 0,051 € je "
                                          "Nachricht, darin je 0,005 € Gebühr des Anbieters).")
    assert plan_labels.cost(plan(cost={"per_message": None, "total": None})) \
        == "Kosten: nicht geschätzt, weil für die Kategorie Marketing kein Preis eingetragen ist."
    mixed = {"category": "mixed", "per_message": None, "total": 492.0, "by_category": {
        "utility": {"recipients": 1500, "per_message": 0.02, "total": 30.0},
        "marketing": {"recipients": 10500, "per_message": 0.044, "total": 462.0}}}
    assert plan_labels.cost(plan(cost=mixed)) == (
        "Kosten: ca. 492,00 € (10.500 in der Kategorie Marketing zu 0,044 €, 1.500 in der "
        "Kategorie Utility zu 0,02 €).")
    mixed["by_category"]["utility"].update(per_message=None, total=None)
    assert plan_labels.cost(plan(cost=dict(mixed, total=None))) == (
        "Kosten: nicht geschätzt, weil für die Kategorie Utility kein Preis eingetragen ist "
        "(10.500 in der Kategorie Marketing zu 0,044 €, 1.500 in der Kategorie Utility ohne "
        "Preis).")
    assert plan_labels.cost(plan(recipients=0, cost={"total": 0.0})) \
        == "Kosten: keine, weil die Meldung jetzt niemanden erreicht."


def test_the_month_against_the_budget_and_without_one():
    assert plan_labels.month(plan()) \
        == "Diesen Monat: ca. 1.200,00 € von 2.000,00 € Budget; danach ca. 1.752,00 €."
    assert plan_labels.month(plan(month={"after": 2100.0})) == (
        "Diesen Monat: ca. 1.200,00 € von 2.000,00 € Budget; danach ca. 2.100,00 € – 100,00 € "
        "über dem Budget.")
    assert plan_labels.month(plan(month={"budget": None})) == (
        "Diesen Monat bisher: ca. 1.200,00 €; danach ca. 1.752,00 € (kein Monatsbudget "
        "festgelegt).")
    # Without a price for this broadcast no figure: the month's would leave out its messages.
    assert plan_labels.month(plan(month={"spent": 0.02, "after": None, "budget": None})) \
        == "Diesen Monat: nicht geschätzt, weil kein Preis eingetragen ist."
    assert plan_labels.month(plan(month={"spent": None, "after": None})) \
        == "Diesen Monat: nicht geschätzt, weil kein Preis eingetragen ist (Budget 2.000,00 €)."


def test_the_month_says_what_is_on_its_way_and_which_month_a_planned_one_goes_out_in():
    assert plan_labels.month(plan(month={"committed": 300.0, "after": 2052.0}), zone=BERLIN) \
        == ("Diesen Monat: ca. 1.200,00 € von 2.000,00 € Budget, dazu ca. 300,00 € schon "
            "gesendet oder geplant, aber noch nicht zugestellt; danach ca. 2.052,00 € – "
            "52,00 € über dem Budget.")
    assert plan_labels.month(plan(month={"spent": 0.0, "committed": 0.0, "after": 552.0,
                                         "calendar_month": "2099-01"}), zone=BERLIN) \
        == "Im Monat 01/2099: ca. 0,00 € von 2.000,00 € Budget; danach ca. 552,00 €."
