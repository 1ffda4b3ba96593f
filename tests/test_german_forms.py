"""The console's German: one gender-fair form for the people a broadcast reaches, one for one
person that does not read as a plural, numbers with the German thousands separator, and the
menu's words."""

import re

import pytest

from bot.web import labels
from tests.conftest import submit_broadcast


@pytest.mark.parametrize("value, text", [(0, "0"), (7, "7"), (999, "999"), (1600, "1.600"),
                                         (12345, "12.345"), (1234567, "1.234.567")])
def test_numbers_have_the_german_thousands_separator(value, text):
    assert labels.number(value) == text


@pytest.mark.parametrize("count, text", [
    (1, "eine Abonnentin oder einen Abonnenten"),
    (0, "0 Abonnentinnen und Abonnenten"),
    (2, "2 Abonnentinnen und Abonnenten"),
    (1600, "1.600 Abonnentinnen und Abonnenten"),
])
def test_whom_a_broadcast_goes_to(count, text):
    assert labels.subscribers(count) == text


def test_explanations_and_costs_write_their_numbers_the_german_way():
    assert labels.invalid_broadcast(
        "text is 1601 characters; a free-form message holds at most 1600") \
        == "Der Text hat 1.601 Zeichen; erlaubt sind höchstens 1.600."
    assert labels.invalid_broadcast(
        "translations.en is 1601 characters; a free-form message holds at most 1600") \
        == "Die Übersetzung (en) hat 1.601 Zeichen; erlaubt sind höchstens 1.600."
    assert labels.cost_line({"amount": 1234.5, "currency": "EUR"}, 27072) \
        == "ca. 1.234,50 € für 27.072 Nachrichten"


def test_one_subscriber_is_one_person_on_every_page(app, console, citizen):
    citizen().send("Start")
    confirm = console.post("/admin/compose", {"text": "Nur eine Person"}).get_data(as_text=True)
    assert "jetzt an <strong>eine Abonnentin oder einen Abonnenten</strong>." in confirm
    assert "Abonnentin oder Abonnenten" not in confirm
    with app.app_context():
        broadcast_id = submit_broadcast({"text": "Nur eine Person"})["id"]
    detail = console.client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "<h2>Zustellung an eine Abonnentin oder einen Abonnenten</h2>" in detail
    listing = console.client.get("/admin").get_data(as_text=True)
    # The one gender-fair form: no generic masculine "Empfänger" on the console's pages.
    for page in (confirm, detail, listing):
        assert not re.search(r"Empfänger(?!innen)", page)


def test_character_limits_and_the_menu_read_as_german(console):
    page = console.client.get("/admin/compose").get_data(as_text=True)
    assert "höchstens 1.600 Zeichen" in page and "1600 Zeichen" not in page
    # The audience page keeps its address; the menu and the page say what it shows.
    assert '<a href="/admin/audience">Reichweite</a>' in page and "Publikum" not in page
    audience = console.client.get("/admin/audience").get_data(as_text=True)
    assert "<h1>Reichweite</h1>" in audience and "Publikum" not in audience


def test_the_public_page_speaks_to_the_citizen_not_of_a_generic_he(config):
    from bot import create_app

    client = create_app(dict(config, LANGUAGES="de,en")).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "indem Sie den Namen der Sprache schreiben" in page and "indem er" not in page
