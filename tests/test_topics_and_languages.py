"""Citizens choose topics and a language: through signed webhooks into the Flask app and a
real database, and who then gets which broadcast, in which language."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot import create_app
from bot.store import deliveries
from bot.store.db import write
from tests.conftest import ADMIN_TOKEN, citizens_of, database, reply_text, rows

TOPICS = ("baustellen=Baustellen und Sperrungen,veranstaltungen=Veranstaltungen,"
          "stellen=Stellenangebote")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def app(config):
    return create_app(dict(config, TOPICS=TOPICS, LANGUAGES="de,en"))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def citizen(client):
    return citizens_of(client)


def say(person, body):
    response = person.send(body)
    assert response.status_code == 200
    return reply_text(response.text)


def post(client, **payload):
    return client.post("/api/broadcasts", json=payload, headers=AUTH)


def reached(app, broadcast_id):
    """The numbers a broadcast's deliveries are for, read as the sender reads them."""
    vault = app.extensions["infokanal"].vault
    conn = database(app).conn
    ids = [sid for (sid,) in conn.execute(
        "SELECT subscriber_id FROM deliveries WHERE broadcast_id = ?", (broadcast_id,))]
    return sorted(vault.decrypt(row[0]) for row in deliveries.recipients(conn, ids, True).values())


def state(app, person):
    """(subscribed, everything, topics, language) of a citizen."""
    vault = app.extensions["infokanal"].vault
    found = rows(app, "SELECT id, all_topics, language FROM subscribers WHERE phone_hash = ?",
                 vault.hash(person.number))
    if not found:
        return (False, None, set(), None)
    sid, everything, language = found[0]
    topics = {t for (t,) in rows(app, "SELECT topic FROM subscriber_topics "
                                      "WHERE subscriber_id = ?", sid)}
    return (True, bool(everything), topics, language)


# --- topics ---------------------------------------------------------------------------------

def test_start_with_a_topic_subscribes_to_that_topic_only(app, citizen):
    erika = citizen()
    reply = say(erika, "Start Baustellen")
    assert "Baustellen und Sperrungen" in reply and "Willkommen" in reply
    assert state(app, erika) == (True, False, {"baustellen"}, None)
    assert rows(app, "SELECT action, topic FROM consent_events") == [("subscribe", "baustellen")]


def test_start_alone_subscribes_to_everything_and_a_topic_then_is_already_had(app, citizen):
    erika = citizen()
    assert "Willkommen" in say(erika, "Start")
    assert state(app, erika) == (True, True, set(), None)
    assert "schon alle Meldungen" in say(erika, "Start stellen")
    assert state(app, erika) == (True, True, set(), None)


def test_topics_add_up_and_start_alone_then_brings_everything(app, citizen):
    erika = citizen()
    say(erika, "Start stellen")
    reply = say(erika, "start Veranstaltungen!")
    assert "auch" in reply and "Veranstaltungen" in reply and "Stellenangebote" in reply
    assert state(app, erika)[2] == {"stellen", "veranstaltungen"}
    assert "schon Meldungen zu: Veranstaltungen" in say(erika, "Start veranstaltungen")
    assert "alle Meldungen" in say(erika, "Start")
    assert state(app, erika) == (True, True, set(), None)


def test_a_subscriber_of_everything_who_stops_one_topic_keeps_all_the_others(app, citizen):
    erika = citizen()
    say(erika, "Start")
    reply = say(erika, "Stop stellen")
    assert "keine Meldungen mehr zu: Stellenangebote" in reply
    assert state(app, erika) == (True, False, {"baustellen", "veranstaltungen"}, None)
    assert rows(app, "SELECT action, topic FROM consent_events ORDER BY id")[-1] == (
        "unsubscribe", "stellen")


def test_stopping_the_last_topic_leaves_the_channel(app, citizen):
    erika = citizen()
    say(erika, "Start baustellen")
    reply = say(erika, "Stopp Baustellen und Sperrungen")
    assert "abgemeldet" in reply
    assert state(app, erika)[0] is False


def test_stop_with_words_that_are_no_topic_leaves_the_channel_and_says_how_to_come_back(
        app, citizen):
    for body in ("Stop bitte", "Stopp!!! danke"):
        erika = citizen()
        say(erika, "Start")
        reply = say(erika, body)
        assert "abgemeldet" in reply and "Start Thema" in reply, body
        assert state(app, erika)[0] is False


def test_start_with_an_unknown_topic_lists_the_topics_and_changes_nothing(app, citizen):
    erika = citizen()
    reply = say(erika, "Start Fahrplan")
    assert "gibt es nicht" in reply and "Start baustellen" in reply
    assert state(app, erika)[0] is False
    assert rows(app, "SELECT count(*) FROM notice_throttle") == [(0,)], "not the notice"
    assert "keine persönlichen Anfragen" in say(erika, "Wo ist das Bürgerbüro?")


def test_themen_lists_the_topics_and_what_one_gets(app, citizen):
    erika = citizen()
    assert "Alle Meldungen" in say(erika, "Themen")
    say(erika, "Start stellen")
    reply = say(erika, "Themen")
    assert all(name in reply for name in ("Baustellen und Sperrungen", "Veranstaltungen"))
    assert "Sie bekommen: Stellenangebote" in reply


def test_who_gets_a_broadcast_follows_its_topics_and_urgent_goes_to_everyone(app, client,
                                                                             citizen):
    everything, roads, jobs, both = citizen(), citizen(), citizen(), citizen()
    say(everything, "Start")
    say(roads, "Start baustellen")
    say(jobs, "Start stellen")
    say(both, "Start baustellen")
    say(both, "Start stellen")
    plain = post(client, text="Für alle, die alles wollen").json
    assert plain["recipients"] == 1 and reached(app, plain["id"]) == [everything.number]
    on_roads = post(client, text="B74 gesperrt", topics=["baustellen"]).json
    assert on_roads["recipients"] == 3 and on_roads["topics"] == ["baustellen"]
    assert reached(app, on_roads["id"]) == sorted([everything.number, roads.number, both.number])
    two = post(client, text="Jobmesse an der Baustelle", topics=["baustellen", "stellen"]).json
    assert two["recipients"] == 4
    urgent = post(client, text="Unwetter", urgent=True, topics=["stellen"]).json
    assert urgent["recipients"] == 4
    shown = client.get(f"/api/broadcasts/{on_roads['id']}", headers=AUTH).json
    assert shown["topics"] == ["baustellen"] and shown["counts"]["queued"] == 3


def test_an_unknown_topic_in_the_api_is_a_400_naming_it(client):
    response = post(client, text="x", topics=["baustellen", "schwimmbad"])
    assert response.status_code == 400 and "schwimmbad" in response.json["error"]
    assert post(client, text="x", topics="baustellen").status_code == 400
    assert client.get("/api/broadcasts", headers=AUTH).json["broadcasts"] == []


def test_stats_and_topics_count_who_gets_each_topic(client, citizen):
    say(citizen(), "Start")
    say(citizen(), "Start baustellen")
    english = citizen()
    say(english, "Subscribe stellen")
    stats = client.get("/api/stats", headers=AUTH).json
    assert stats["subscribers"] == 3
    assert stats["topics"] == {"baustellen": 2, "veranstaltungen": 1, "stellen": 2}
    assert stats["languages"] == {"de": 2, "en": 1}
    listed = client.get("/api/topics", headers=AUTH).json["topics"]
    assert listed[0] == {"slug": "baustellen", "name": "Baustellen und Sperrungen",
                         "subscribers": 2}
    assert client.get("/api/topics").status_code == 401


def test_racing_topic_starts_and_stops_from_one_number_end_consistent(env):
    """Many webhooks of one citizen at once, through gunicorn: every answer arrives, and the
    final choice is what the consent records say, in their order."""
    from tests.conftest import WebServer

    server = WebServer(dict(env, TOPICS=TOPICS))
    try:
        erika = server.citizen()
        assert erika.send("Start").status_code == 200
        bodies = ["Stop stellen", "Start stellen", "Stop baustellen", "Start baustellen",
                  "Stop veranstaltungen", "Start veranstaltungen"] * 6
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(lambda body: erika.send(body).status_code, bodies))
        assert codes == [200] * len(bodies)
        path = env["DATABASE_PATH"]
        import sqlite3

        with sqlite3.connect(path) as conn:
            events = conn.execute("SELECT action, topic FROM consent_events ORDER BY id").fetchall()
            subscribed = conn.execute("SELECT id, all_topics FROM subscribers").fetchall()
            topics = {t for (t,) in conn.execute("SELECT topic FROM subscriber_topics")}
    finally:
        server.stop()
    # Replay the consent records: the state they describe is the state stored.
    replay = {"baustellen", "veranstaltungen", "stellen"}
    member, everything = True, True
    for action, topic in events[1:]:
        if topic is None:
            member = action == "subscribe"
            replay = {"baustellen", "veranstaltungen", "stellen"} if member else set()
            continue
        everything = False
        replay = replay | {topic} if action == "subscribe" else replay - {topic}
        member = bool(replay)
    assert bool(subscribed) == member
    if member:
        assert subscribed[0][1] == int(everything) and (everything or topics == replay)


def test_a_stop_for_the_topic_wins_over_its_broadcast_claimed_already(app, client, citizen):
    """The sender claimed the delivery; the citizen then leaves the topic: it is skipped."""
    from bot.delivery.sender import Sender

    erika = citizen()
    say(erika, "Start baustellen")
    say(erika, "Start stellen")
    answer = post(client, text="B74 gesperrt", topics=["baustellen"]).json
    sender = Sender(database(app), app.extensions["infokanal"].vault, transport=None)
    batch = sender._next_batch()
    assert len(batch) == 1 and sender._still_subscribed(batch[0])
    say(erika, "Stop baustellen")
    assert not sender._still_subscribed(batch[0]), "she left the topic after the claim"
    sender.flush()
    assert client.get(f"/api/broadcasts/{answer['id']}", headers=AUTH).json["counts"][
        "skipped"] == 1


# --- languages ------------------------------------------------------------------------------

def test_subscribing_with_an_english_keyword_makes_english_the_citizens_language(app, citizen):
    sam = citizen()
    assert say(sam, "Subscribe").startswith("Welcome")
    assert state(app, sam)[3] == "en"
    assert say(sam, "Stop").startswith("You are unsubscribed"), "Stop in their language"


def test_a_subscriber_switches_language_by_its_name_and_is_answered_in_it(app, citizen):
    erika = citizen()
    say(erika, "Start")
    assert say(erika, "English") == "You will now get the announcements in English."
    assert state(app, erika)[3] == "en"
    assert say(erika, "Hilfe").startswith("Infokanal") is False
    assert say(erika, "Deutsch") == "Sie bekommen die Meldungen jetzt auf Deutsch."
    assert state(app, erika)[3] is None
    stranger = citizen()
    assert "Subscribe" in say(stranger, "English"), "a stranger learns how to join in it"
    assert state(app, stranger)[0] is False


def test_each_subscriber_gets_the_broadcast_in_their_language(app, client, citizen,
                                                               twilio_api):
    german, english = citizen(), citizen()
    say(german, "Start")
    say(english, "Subscribe")
    answer = post(client, text="Straße gesperrt", translations={"en": "Road closed"}).json
    assert answer["translations"] == {"en": "Road closed"}
    run_sender(app)
    got = {m["To"]: m["Body"] for m in twilio_api.messages}
    assert got == {f"whatsapp:{german.number}": "Straße gesperrt",
                   f"whatsapp:{english.number}": "Road closed"}
    without = post(client, text="Nur deutsch").json
    run_sender(app)
    assert [m["Body"] for m in twilio_api.messages[2:]] == ["Nur deutsch", "Nur deutsch"]
    assert without["translations"] == {}


def test_templates_per_language_carry_the_text_in_that_language(config, twilio_api):
    app = create_app(dict(config, LANGUAGES="de,en", BROADCAST_CONTENT_SID="HXde",
                          BROADCAST_CONTENT_SID_EN="HXen"))
    client = app.test_client()
    person = citizens_of(client)
    say(person(), "Start")
    say(person(), "Subscribe")
    post(client, text="Gesperrt", translations={"en": "Closed"})
    run_sender(app)
    sent = sorted((m["ContentSid"], json.loads(m["ContentVariables"])["1"])
                  for m in twilio_api.messages)
    assert sent == [("HXde", "Gesperrt"), ("HXen", "Closed")]


@pytest.mark.parametrize("translations,reason", [
    ({"fr": "Bonjour"}, "'fr'"), ({"de": "Doppelt"}, "'de'"), ({"en": ""}, "empty"),
    ({"en": "x" * 1601}, "1601 characters"), (["en"], "object"),
])
def test_a_translation_that_cannot_go_out_is_a_400(client, translations, reason):
    response = post(client, text="Hallo", translations=translations)
    assert response.status_code == 400 and reason in response.json["error"]


def test_the_language_survives_a_key_rotation_and_shows_in_the_export(app, citizen):
    from bot.store import privacy
    from bot.store.keys import rotate
    from bot.vault import new_key, parse_data_key

    sam = citizen()
    say(sam, "Subscribe baustellen")
    keys = f"{new_key()},{app.config['DATA_KEY']}"
    rotate(database(app), keys)
    vault = app.extensions["infokanal"].vault
    vault._fernet = parse_data_key(keys)
    exported = privacy.export(database(app).conn, vault, sam.number)
    assert exported["language"] == "en" and exported["topics"] == ["baustellen"]
    assert exported["consent_events"][0]["topic"] == "baustellen"
    privacy.erase(database(app).conn, vault, sam.number)
    assert rows(app, "SELECT count(*) FROM subscriber_topics") == [(0,)]
    assert privacy.export(database(app).conn, vault, sam.number)["language"] is None


def run_sender(app):
    import asyncio

    from bot.delivery import worker

    async def run():
        sender = worker.build(dict(app.config), app.extensions["infokanal"].vault, demo=False)
        try:
            await asyncio.wait_for(sender.run(until_idle=True), 60)
        finally:
            await sender.transport.close()
            sender.database.conn.close()

    asyncio.run(run())
    # A moment for nothing: the sender wrote everything before it returned.
    time.sleep(0)


# --- console and public page ------------------------------------------------------------------

@pytest.fixture
def officer_console(app, client):
    from tests.conftest import OFFICER, OFFICER_PASSWORD, Console

    result = app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                          input=f"{OFFICER_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    console = Console(client)
    assert console.sign_in().status_code == 302
    return console


def test_compose_offers_topics_and_a_field_per_language(officer_console):
    page = officer_console.client.get("/admin/compose").get_data(as_text=True)
    assert 'name="topics" type="checkbox" value="baustellen"' in page
    assert 'id="translation_en"' in page and "Text auf English" in page
    assert 'data-counter="counter-en"' in page


def test_the_confirmation_counts_who_gets_it_by_topic_and_language(officer_console, citizen):
    say(citizen(), "Start")
    say(citizen(), "Start baustellen")
    say(citizen(), "Subscribe baustellen")
    say(citizen(), "Start stellen")
    page = officer_console.post("/admin/compose", {
        "text": "B74 gesperrt", "topics": ["baustellen"], "translation_en": "B74 closed",
        "send_at": "", "media_url": ""}).get_data(as_text=True)
    assert "<strong>3 Abonnentinnen und Abonnenten</strong>" in page
    assert "Themen: Baustellen und Sperrungen" in page
    assert "2 auf Deutsch, 1 auf English" in page
    assert 'name="topics" value="baustellen"' in page
    assert 'name="translation_en" value="B74 closed"' in page


def test_the_confirmation_without_a_topic_says_who_that_is(officer_console, citizen):
    say(citizen(), "Start")
    say(citizen(), "Start stellen")
    page = officer_console.post("/admin/compose", {"text": "Rathaus zu", "send_at": "",
                                                   "media_url": ""}).get_data(as_text=True)
    assert "<strong>eine Abonnentin oder einen Abonnenten</strong>" in page and "alle Meldungen gewählt" in page


def test_the_audience_page_counts_per_topic_and_language(officer_console, citizen):
    say(citizen(), "Start")
    say(citizen(), "Subscribe stellen")
    page = officer_console.client.get("/admin/audience").get_data(as_text=True)
    assert 'id="per-topic"' in page and 'id="per-language"' in page
    assert "<td>Stellenangebote</td><td class=\"number\">2</td>" in page
    assert "<td>English</td><td class=\"number\">1</td>" in page


def test_the_public_page_offers_a_join_link_per_topic_and_the_language_keywords(client):
    page = client.get("/").get_data(as_text=True)
    assert "https://wa.me/4930901820?text=Start%20Baustellen%20und%20Sperrungen" in page
    assert "https://wa.me/4930901820?text=Start\"" in page, "the general link stays"
    assert "English: „Subscribe“" in page


def test_a_draft_for_a_topic_says_how_many_it_will_reach_by_the_topic_rule(app, officer_console,
                                                                            citizen):
    import re

    say(citizen(), "Start")
    say(citizen(), "Start baustellen")
    say(citizen(), "Start stellen")
    say(citizen(), "Start stellen")
    fields = {"text": "B74 gesperrt", "topics": ["baustellen"], "send_at": "", "media_url": ""}
    confirm = officer_console.post("/admin/compose", fields).get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', confirm).group(1)
    saved = officer_console.post("/admin/compose", {**fields, "action": "draft", "nonce": nonce})
    assert saved.status_code == 302
    draft = rows(app, "SELECT id FROM broadcasts WHERE status = 'draft'")[0][0]
    page = officer_console.client.get(f"/admin/broadcasts/{draft}").get_data(as_text=True)
    # The one who gets everything and the one for road works; not the two for job offers.
    assert "senden Sie ihn an <strong>2 Abonnentinnen und Abonnenten</strong>" in page
    assert "jetzt an 2 Abonnentinnen und Abonnenten senden?" in page


def test_a_changed_text_takes_its_outdated_translations_with_it(app, client):
    from bot.store import broadcasts

    with write(database(app)) as conn:
        draft = broadcasts.create(conn, "B74 gesperrt", created_by="nina", draft=True,
                                  translations={"en": "B74 closed"})[0]
    urgency_only = client.patch(f"/api/broadcasts/{draft}", headers=AUTH, json={"urgent": True})
    assert urgency_only.json["translations"] == {"en": "B74 closed"}
    changed = client.patch(f"/api/broadcasts/{draft}", headers=AUTH,
                           json={"text": "B74 wieder frei"})
    assert changed.status_code == 200 and changed.json["translations"] == {}
    details = rows(app, "SELECT details FROM audit_log WHERE action = 'broadcast_edited'")
    assert [json.loads(d).get("translations_removed") for (d,) in details] == [None, ["en"]]


def test_a_planned_broadcasts_new_text_goes_out_to_every_language(app, client,
                                                                  officer_console, citizen):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    say(citizen(), "Subscribe")
    later = datetime.now(ZoneInfo(app.config["TIMEZONE"])) + timedelta(hours=3)
    planned = post(client, text="Markt am Samstag", translations={"en": "Market on Saturday"},
                   send_at=later.isoformat()).json
    assert planned["status"] == "scheduled"
    response = officer_console.post(f"/admin/broadcasts/{planned['id']}/edit", {
        "text": "Markt fällt aus", "media_url": "", "expires_at": "",
        "send_at": later.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    page = officer_console.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "die Übersetzung (English) passte nicht mehr" in page
    shown = client.get(f"/api/broadcasts/{planned['id']}", headers=AUTH).json
    assert (shown["text"], shown["translations"]) == ("Markt fällt aus", {})
