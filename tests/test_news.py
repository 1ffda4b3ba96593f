"""A citizen writes "Neu" ("Aktuell", "News"): the newest public announcements they would have
got, in their language, in one message; through signed webhooks into the Flask app and a real
database."""

import pytest

from bot import create_app
from bot.domain import news
from bot.store.db import write
from tests.conftest import ADMIN_TOKEN, citizens_of, database, reply_text, rows

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TOPICS = "baustellen=Baustellen und Sperrungen,kultur=Veranstaltungen"


@pytest.fixture
def app(config):
    return create_app(dict(config, TOPICS=TOPICS, LANGUAGES="de,en,de-LS"))


@pytest.fixture
def person(app):
    return citizens_of(app.test_client())


def say(who, body):
    response = who.send(body)
    assert response.status_code == 200
    return reply_text(response.text)


def post(app, **payload):
    """A broadcast through the API, then marked as having gone out (no worker runs here)."""
    response = app.test_client().post("/api/broadcasts", json=payload, headers=AUTH)
    assert response.status_code in (200, 201, 202), response.json
    broadcast_id = response.json["id"]
    with write(database(app)) as conn:
        conn.execute("UPDATE broadcasts SET status = 'done', started_at = created_at "
                     "WHERE id = ?", (broadcast_id,))
    return broadcast_id


def replies_counted(app):
    return rows(app, "SELECT coalesce(sum(n), 0) FROM message_usage WHERE category = 'service'")[0][0]


def test_nothing_public_yet_is_said_in_one_short_text(app, person):
    assert say(person(), "Neu") == "Es gibt noch keine Meldungen."
    assert say(person(), "News") == "There are no announcements yet."


def test_neu_answers_the_three_newest_that_the_citizen_would_have_got(app, person):
    reader = person()
    say(reader, "Start baustellen")
    post(app, text="Erste Meldung für alle.")
    post(app, text="Kultur am Wochenende.", topics=["kultur"])
    post(app, text="Sperrung der B 74.", topics=["baustellen"])
    post(app, text="Nicht öffentlich.", public=False)
    post(app, text="Sturmwarnung.", urgent=True, topics=["kultur"])
    post(app, text="Zweite Meldung für alle.")
    before = replies_counted(app)
    answer = say(reader, "Neu")
    parts = answer.split("\n\n")
    assert parts[0] == "Die neuesten Meldungen:"
    assert [p.split(": ", 1)[1] for p in parts[1:]] == [
        "Zweite Meldung für alle.", "Sturmwarnung.", "Sperrung der B 74."]
    assert replies_counted(app) == before + 1, "counted as a reply in the month's figures"
    # Everything, for a subscriber of every topic and for a stranger alike.
    everyone = person()
    say(everyone, "Start")
    assert "Kultur am Wochenende." not in say(everyone, "Aktuell")
    assert say(person(), "aktuell!").split("\n\n")[1:] == say(everyone, "Aktuell").split(
        "\n\n")[1:]


def test_each_reader_gets_the_announcements_in_their_own_language(app, person):
    post(app, text="Müllabfuhr verschoben.",
         translations={"en": "Waste collection postponed.",
                       "de-LS": "Die Müll-Abfuhr kommt später."})
    english, easy = person(), person()
    say(english, "Subscribe")
    say(easy, "Start Leichte Sprache")
    assert say(english, "News").startswith("The latest announcements:\n\n")
    assert say(english, "News").endswith(": Waste collection postponed.")
    answer = say(easy, "Neu")
    assert answer.startswith("Die neuesten Nachrichten:\n\n")
    assert answer.endswith(": Die Müll-Abfuhr kommt später.")


def test_long_announcements_are_shortened_to_fit_one_message(app, person):
    long_text = "Wort " * 300
    for _ in range(3):
        post(app, text=long_text.strip())
    post(app, text="Kurz.")
    answer = say(person(), "Neu")
    assert len(answer) <= 1600
    assert answer.count("…") == 2 and "Kurz." in answer


def test_fit_gives_what_short_items_leave_to_the_long_ones():
    text = news.fit(200, "Neu:", [("1.1.", "x" * 500), ("2.1.", "kurz"), ("3.1.", "y" * 500)])
    assert len(text) <= 200 and "2.1.: kurz" in text
    assert text.count("…") == 2


def test_leichte_sprache_writes_the_date_in_words_and_the_time_without_a_leading_zero():
    assert news._when("2026-12-07T08:05:00Z", "de-LS", "Europe/Berlin") == (
        "7. Dezember 2026, 9:05 Uhr")
    assert news._when("2026-03-01T09:30:00Z", "de", "Europe/Berlin") == "01.03.2026, 10:30"
