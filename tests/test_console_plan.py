"""The console's confirmation shows the broadcast's plan above the send button: whom it
reaches and in which languages, when the last message goes out, how many WhatsApp lets us
reach today, what it costs and what the month has cost, with its warnings marked in words;
and, without a price, a budget or a limit, says so rather than showing nothing."""

import re

import pytest

from bot import create_app
from tests.conftest import OFFICER, OFFICER_PASSWORD, Console, citizens_of


def subscribe(citizen, n):
    for _ in range(n):
        assert citizen().send("Start").status_code == 200


def confirmation(console, text="Sperrung der B7 ab Montag", **fields):
    response = console.post("/admin/compose", dict(text=text, **fields))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def line(page, element_id):
    """The text of the element with ``element_id``, its whitespace folded."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:li|p|div|h2)>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


@pytest.fixture
def officer(runner):
    """An admin: over the budget below, a publisher's broadcast waits for one
    (tests/test_budget.py), and this page is the one that sends."""
    result = runner.invoke(args=["users", "add", OFFICER, "--role", "admin", "--password-stdin"],
                           input=f"{OFFICER_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    return OFFICER


@pytest.fixture
def config(config):
    # A county that set everything: 80 messages a second, marketing at 0.046 € (fee included),
    # WhatsApp's lowest tier of 2 people a day, and a budget of 0.10 € for the month.
    return dict(config, SEND_RATE_LIMIT=80, PRICE_MARKETING="0.041", PLATFORM_FEE="0.005",
                MESSAGING_LIMIT_24H=2, MONTHLY_BUDGET="0.10")


def test_the_confirmation_shows_the_plan_above_the_send_button(console, citizen):
    subscribe(citizen, 3)
    page = confirmation(console)
    assert line(page, "plan-heading") == "Was beim Senden passiert"
    assert line(page, "reach") == "Diese Meldung geht jetzt an 3 Abonnentinnen und Abonnenten."
    assert re.fullmatch(r"Die letzte Nachricht geht voraussichtlich um \d\d:\d\d Uhr hinaus, "
                        r"also sofort\.", line(page, "plan-time"))
    assert re.fullmatch(
        r"Heute erreichbar: 2 von 3 – WhatsApp begrenzt, wie viele verschiedene Personen diese "
        r"Nummer in 24 Stunden anschreiben darf; der Rest morgen ab \d\d:\d\d Uhr\.",
        line(page, "plan-reach"))
    assert line(page, "plan-cost") == ("Kosten: ca. 0,14 € (Kategorie Marketing, 0,046 € je "
                                       "Nachricht, darin je 0,005 € Gebühr des Anbieters).")
    # The three welcome replies so far, at PRICE_SERVICE (0) with the platform's fee.
    assert line(page, "plan-month") == ("Diesen Monat: ca. 0,02 € von 0,10 € Budget; danach ca. "
                                        "0,15 € – 0,05 € über dem Budget.")
    warnings = re.search(r'<div class="plan-warnings" id="plan-warnings" role="alert">(.*?)</div>',
                         page, re.S).group(1)
    assert "Bitte beachten Sie vor dem Senden:" in warnings
    assert warnings.count("<li>") == 2, warnings  # not all reachable today; over the budget
    assert "Monatsbudget" in warnings
    # The plan's own sentences keep the console's one gender-fair form, too.
    assert not re.search(r"Empfänger(?!innen)", page)
    # The plan replaces the old lines for whom and what it costs: each is said once (the
    # warnings aside, which say why).
    assert page.replace(warnings, "").count("3 Abonnentinnen und Abonnenten") == 1
    assert 'id="cost"' not in page and "Geschätzte Kosten" not in page
    assert page.index('id="plan"') < page.index('id="send"')


def console_of(settings):
    """A console of an app made with ``settings``, a publisher signed in, and its citizens."""
    made = create_app(settings)
    result = made.test_cli_runner().invoke(
        args=["users", "add", "olga", "--role", "publisher", "--password-stdin"],
        input="ein-langes-Passwort-1\n")
    assert result.exit_code == 0, result.output
    console = Console(made.test_client())
    assert console.sign_in("olga", "ein-langes-Passwort-1").status_code == 302
    return console, citizens_of(made.test_client())


def test_without_price_budget_or_limit_the_plan_says_so(config):
    console, citizen = console_of({k: v for k, v in config.items() if k not in (
        "PRICE_MARKETING", "PLATFORM_FEE", "MESSAGING_LIMIT_24H", "MONTHLY_BUDGET")})
    subscribe(citizen, 2)
    page = confirmation(console)
    assert line(page, "plan-reach") == ("Heute erreichbar: nicht geprüft, weil kein Tageslimit "
                                        "von WhatsApp eingetragen ist.")
    assert line(page, "plan-cost") == ("Kosten: nicht geschätzt, weil für die Kategorie "
                                       "Marketing kein Preis eingetragen ist.")
    assert line(page, "plan-month") == ("Diesen Monat: nicht geschätzt, weil kein "
                                        "Preis eingetragen ist.")
    assert 'id="plan-warnings"' not in page


def test_a_scheduled_broadcast_counts_its_time_from_when_it_goes(console, citizen):
    subscribe(citizen, 1)
    page = confirmation(console, send_at="2099-12-24T18:00")
    assert "Diese Meldung wird am 24.12.2099, 18:00 Uhr gesendet" in line(page, "reach")
    assert line(page, "plan-time") == ("Die letzte Nachricht geht voraussichtlich am 24.12.2099 "
                                       "um 18:00 Uhr hinaus, gleich zum geplanten Zeitpunkt.")


def test_one_that_waits_for_approval_says_how_long_after_it_and_counts_each_topic(config):
    console, citizen = console_of(dict(config, APPROVAL_REQUIRED="1", MESSAGING_LIMIT_24H=0,
                                       TOPICS="baustellen=Baustellen,stellen=Stellenangebote"))
    for body in ("Start", "Start baustellen", "Start stellen"):
        assert citizen().send(body).status_code == 200
    page = confirmation(console, topics=["baustellen", "stellen"])
    assert line(page, "reach") == ("Diese Meldung geht nach der Freigabe an 3 Abonnentinnen "
                                   "und Abonnenten.")
    # Who gets each topic: those who chose it and those who get everything.
    assert line(page, "reach-topics") == (
        "Themen: Baustellen (2 erhalten es), Stellenangebote (2 erhalten es). Sie geht an alle, "
        "die eines davon oder alle Meldungen gewählt haben.")
    assert line(page, "plan-time") == ("Nach der Freigabe sind alle Nachrichten in wenigen "
                                       "Sekunden hinaus.")
    assert 'id="request"' in page and page.index('id="plan"') < page.index('id="request"')
