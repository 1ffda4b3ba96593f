"""Every keyword-like message gets an answer: with and without topics, said politely, after
the notice; and where nothing is answered, the simulator says why. Through signed webhooks into
the Flask app and a real database."""

import re

import pytest

from bot import create_app
from bot.domain import citizens
from bot.web.database import get_db
from tests.conftest import citizens_of, reply_text, rows, signed_in_demo_console

TOPICS = "baustellen=Baustellen und Sperrungen,stellen=Stellenangebote"


def say(person, body):
    response = person.send(body)
    assert response.status_code == 200
    return reply_text(response.text)


def subscribed(app, person):
    vault = app.extensions["infokanal"].vault
    return rows(app, "SELECT all_topics FROM subscribers WHERE phone_hash = ?",
                vault.hash(person.number))


# --- without topics ---------------------------------------------------------------------------

def test_themen_without_topics_says_there_are_none_and_how_to_join(app, citizen):
    erika = citizen()
    reply = say(erika, "Themen")
    assert "Themen gibt es hier nicht" in reply and "alle Meldungen" in reply
    assert "„Start“" in reply, "a stranger learns how to join"
    assert subscribed(app, erika) == []
    assert rows(app, "SELECT count(*) FROM notice_throttle") == [(0,)], "not the notice"
    say(erika, "Start")
    assert "„Start“" not in say(erika, "Themen?"), "a subscriber is not asked to join"


def test_start_with_a_topic_word_without_topics_joins_and_says_there_are_no_topics(app, citizen):
    erika = citizen()
    reply = say(erika, "Start Baustellen")
    assert "Willkommen" in reply and "Themen gibt es hier nicht" in reply
    assert subscribed(app, erika) == [(1,)]
    assert rows(app, "SELECT action, topic FROM consent_events") == [("subscribe", None)]
    again = say(erika, "Anmelden Stellenangebote")
    assert "schon angemeldet" in again and "Themen gibt es hier nicht" in again


def test_stop_with_a_topic_word_without_topics_leaves(app, citizen):
    erika = citizen()
    say(erika, "Start")
    assert "abgemeldet" in say(erika, "Stop Baustellen")
    assert subscribed(app, erika) == []


def test_the_first_day_s_silence_is_gone_every_keyword_is_answered_after_the_notice(app,
                                                                                    citizen):
    """As it happened: a question, then "Themen", then "Start Baustellen". The notice went
    out once; the keywords after it were met with silence."""
    erika = citizen()
    assert "keine persönlichen Anfragen" in say(erika, "Wie funktioniert das hier?")
    assert "Themen gibt es hier nicht" in say(erika, "Themen")
    assert "Willkommen" in say(erika, "Start Baustellen")
    for body in ("Hilfe", "Info bitte", "Start", "Stop", "Stop", "Anmelden bitte"):
        assert say(erika, body), body
    # Only the notice is held back within its window.
    assert say(erika, "Wann kommt der Müll?") is None
    assert subscribed(app, erika) == [(1,)]


def test_a_question_that_begins_like_start_is_no_start(app, citizen):
    erika = citizen()
    assert "keine persönlichen Anfragen" in say(erika, "Start der Bauarbeiten?")
    assert subscribed(app, erika) == []


# --- polite words -----------------------------------------------------------------------------

@pytest.mark.parametrize("body", ["Start bitte", "Bitte Start", "Anmelden bitte!",
                                  "Hallo, Start 🙏", "Gerne anmelden.", "start please"])
def test_start_said_politely_joins(app, citizen, body):
    erika = citizen()
    assert "Willkommen" in say(erika, body)
    assert subscribed(app, erika) == [(1,)]
    assert rows(app, "SELECT action FROM consent_events") == [("subscribe",)]


@pytest.mark.parametrize("body", ["Stop bitte", "Abmelden, danke", "Vielen Dank! Stopp.",
                                  "thank you, unsubscribe"])
def test_stop_said_politely_leaves(app, citizen, body):
    erika = citizen()
    say(erika, "Start")
    assert "abgemeldet" in say(erika, body)
    assert subscribed(app, erika) == []


@pytest.mark.parametrize("body", ["Hallo, ich möchte mich anmelden", "Danke!",
                                  "Bitte Start der Bauarbeiten?", "Danke für den Start"])
def test_a_personal_message_with_polite_words_stays_a_message(app, citizen, body):
    erika = citizen()
    assert "keine persönlichen Anfragen" in say(erika, body)
    assert subscribed(app, erika) == []


@pytest.mark.parametrize("body, keyword", [("Stopp, ich will das nicht mehr!", "stopp"),
                                           ("Stop mit den Nachrichten?", "stop"),
                                           ("Abmelden 2 Nummern", "abmelden")])
def test_stop_with_any_words_without_topics_leaves(app, citizen, body, keyword):
    """An opt-out must never be missed, with topics or without."""
    erika = citizen()
    say(erika, "Start")
    reply = say(erika, body)
    assert reply.startswith("Sie sind abgemeldet") and "„Start“" in reply
    assert subscribed(app, erika) == []
    assert rows(app, "SELECT action, keyword FROM consent_events ORDER BY id DESC LIMIT 1") == [
        ("unsubscribe", keyword)]


@pytest.mark.parametrize("body", ["Anmelden Gewerbe", "Start Kita"])
def test_start_with_words_without_topics_joins_and_says_where_personal_matters_go(app, citizen,
                                                                                  body):
    erika = citizen()
    reply = say(erika, body)
    assert "Willkommen" in reply and "Themen gibt es hier nicht" in reply
    assert reply.endswith("Für Ihr Anliegen nutzen Sie bitte: Bürgertelefon 0800 123 456.")
    assert "Bürgertelefon" in say(erika, body), "also when already subscribed"


def test_consent_records_keep_our_keyword_never_the_message(app, citizen):
    erika = citizen()
    for body in ("Anmelden Gewerbe", "Stop mit den Nachrichten?", "Start bitte",
                 "Abmelden, danke"):
        say(erika, body)
    assert rows(app, "SELECT action, keyword FROM consent_events ORDER BY id") == [
        ("subscribe", "anmelden"), ("unsubscribe", "stop"), ("subscribe", "start"),
        ("unsubscribe", "abmelden")]


def test_with_topics_consent_keeps_the_keyword_and_the_topic_slug(topics_app):
    erika = citizens_of(topics_app.test_client())()
    say(erika, "Bitte: Start Baustellen und Sperrungen!")
    say(erika, "Stopp, ich will das nicht mehr!")
    assert rows(topics_app, "SELECT action, keyword FROM consent_events ORDER BY id") == [
        ("subscribe", "start baustellen"), ("unsubscribe", "stopp")]


def test_a_subscriber_s_notice_says_how_to_leave(app, citizen):
    erika, max_ = citizen(), citizen()
    say(erika, "Start")
    notice = say(erika, "Wo ist das Bürgerbüro?")
    assert "keine persönlichen Anfragen" in notice and "Bürgertelefon" in notice
    assert notice.endswith("Abmelden: schreiben Sie „Stop“.")
    stranger = say(max_, "Wo ist das Bürgerbüro?")
    assert "Abmelden" not in stranger and "„Start“" in stranger


# --- with topics ------------------------------------------------------------------------------

@pytest.fixture
def topics_app(config):
    return create_app(dict(config, TOPICS=TOPICS, LANGUAGES="de,en"))


def test_with_topics_start_bitte_means_everything_not_an_unknown_topic(topics_app):
    citizen = citizens_of(topics_app.test_client())
    erika = citizen()
    reply = say(erika, "Start bitte")
    assert "Willkommen" in reply and "gibt es nicht" not in reply
    assert subscribed(topics_app, erika) == [(1,)]
    max_ = citizen()
    assert "Baustellen und Sperrungen" in say(max_, "Bitte: Start Baustellen!")
    assert subscribed(topics_app, max_) == [(0,)]
    unknown = say(citizen(), "Start Fahrplan")
    assert "gibt es nicht" in unknown and "Start baustellen" in unknown


def test_english_topics_without_topics_is_answered_in_english(config):
    citizen = citizens_of(create_app(dict(config, LANGUAGES="de,en")).test_client())
    assert "no topics" in say(citizen(), "Topics please")


# --- why nothing was answered -----------------------------------------------------------------

def test_handling_says_why_a_replayed_message_gets_nothing(app, citizen):
    erika = citizen()
    params = erika.params("Start")
    assert "Willkommen" in reply_text(erika.post_signed("/twilio/messages", params).text)
    assert reply_text(erika.post_signed("/twilio/messages", params).text) is None
    with app.app_context():
        channel = app.extensions["infokanal"].channel
        outcome = citizens.handle(get_db(), channel, erika.number, "Start",
                                  params["MessageSid"])
    assert outcome == citizens.Outcome(silence=citizens.REPLAYED)


def chat_of(console):
    page = console.client.get("/admin/simulator").get_data(as_text=True)
    return page[page.index('id="chat"'):page.index('id="eingabe"')]


def simulate(console, body):
    assert console.post("/admin/simulator", {"body": body},
                        token_page="/admin/simulator").status_code == 302


@pytest.mark.parametrize("hours,within", [(None, "in den letzten 24 Stunden"),
                                          (2, "in den letzten 2 Stunden"),
                                          (1, "in der letzten Stunde")])
def test_the_simulator_says_why_a_message_got_no_answer(config, hours, within):
    console = signed_in_demo_console(config, **({"NOTICE_WINDOW_HOURS": hours} if hours else {}))
    simulate(console, "Hallo?")
    assert "keine persönlichen Anfragen" in chat_of(console)
    assert "Keine Antwort" not in chat_of(console)
    simulate(console, "Noch eine Frage")
    chat = chat_of(console)
    notes = re.findall(r'<p class="silence" data-silence>([^<]+)</p>', chat)
    assert len(notes) == 1
    assert notes[0].startswith("Keine Antwort: Der Hinweis")
    assert f"wurde dieser Nummer {within} schon geschickt" in notes[0]
    # It stands under the message that got nothing.
    assert chat.index("Noch eine Frage") < chat.index("Keine Antwort")
    simulate(console, "Themen")
    assert "Themen gibt es hier nicht" in chat_of(console)
    assert len(re.findall("data-silence", chat_of(console))) == 1


def test_the_simulator_has_no_note_where_the_channel_answered(config):
    console = signed_in_demo_console(config, NOTICE_WINDOW_HOURS=0)
    for body in ("Hallo?", "Hallo??", "Start bitte"):
        simulate(console, body)
    assert "data-silence" not in chat_of(console)
