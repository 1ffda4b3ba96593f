"""Corrections ("Berichtigung"): a broadcast that went out is corrected for exactly those it
reached, through the API and the console (with its roles and four-eyes rule), sent by the real
sender to the fake Twilio; refused with plain reasons otherwise; shown beside the original in
the archive and the feed; linked in the audit trail."""

import json
import re
import shutil

import pytest

from bot import create_app
from bot.domain import corrections
from bot.store import broadcasts
from bot.store.db import write
from tests.conftest import (ADMIN_TOKEN, broadcast, citizens_of, csrf_from, database, rows,
                            scalar)
from tests.test_approval import approve
from tests.test_broadcast_sender import run_sender
from tests.test_roles import DATA_KEY, accounts_database, signed_in  # noqa: F401 - fixture

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ORIGINAL = "Die Kreisstraße 12 zwischen Adorf und Bedorf ist ab Montag für drei Wochen gesperrt."


def post_correction(client, broadcast_id, body):
    kwargs = {"json": body} if not isinstance(body, str) else {
        "data": body, "content_type": "application/json"}
    return client.post(f"/api/broadcasts/{broadcast_id}/correct", headers=AUTH, **kwargs)


# How a correction begins in German, English and Leichte Sprache.
HEADS = ("Berichtigung:", "Correction:", "Achtung, Fehler in der Nachricht")


def texts_to(twilio_api, prefix):
    """{number: text} of what the fake Twilio took whose text begins with ``prefix`` (a
    string, or a tuple of them)."""
    return {m["To"].removeprefix("whatsapp:"): m["Body"] for m in twilio_api.messages
            if m.get("Body", "").startswith(prefix)}


@pytest.fixture
def reached(app, citizen, twilio_api):
    """Four subscribers; the broadcast went out and reached three of them (the fourth's
    message was refused: not on WhatsApp); then one of the three left and a new citizen joined.
    Returns (original id, {name: citizen})."""
    people = {name: citizen() for name in ("anna", "ben", "cleo", "dora")}
    for person in people.values():
        person.send("Start")
    original_id = broadcast(app, ORIGINAL)
    twilio_api.error_queue = [(400, 63003)]  # the first send (anna's) is refused for good
    run_sender(app)
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = ?", original_id) == "done"
    people["dora"].send("Stop")
    people["emil"] = citizen()
    people["emil"].send("Start")
    return original_id, people


def test_a_correction_reaches_exactly_those_the_original_reached(app, client, twilio_api,
                                                                  reached):
    original_id, people = reached
    response = post_correction(client, original_id, {"text": "Die Sperrung beginnt erst am "
                                                             "Dienstag."})
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    assert answer["corrects"] == original_id and answer["recipients"] == 2
    assert answer["text"] == ("Berichtigung: „Die Kreisstraße 12 zwischen Adorf und Bedorf "
                              "ist…“ – Die Sperrung beginnt erst am Dienstag.")
    run_sender(app)
    got = texts_to(twilio_api, "Berichtigung:")
    # Ben and Cleo got the original; Anna's was refused, Dora left, Emil joined later.
    assert set(got) == {people["ben"].number, people["cleo"].number}
    assert set(got.values()) == {answer["text"]}
    shown = client.get(f"/api/broadcasts/{answer['id']}", headers=AUTH).get_json()
    assert shown["corrects"] == original_id and shown["counts"]["sent"] == 2
    original = client.get(f"/api/broadcasts/{original_id}", headers=AUTH).get_json()
    assert original["corrections"] == [answer["id"]]
    # The audit trail names the original.
    (actor, details), = rows(app, "SELECT actor, details FROM audit_log WHERE action = "
                                  "'broadcast_corrected' AND target = ?",
                             f"broadcast:{answer['id']}")
    assert actor == "api" and json.loads(details)["corrects"] == original_id
    assert ORIGINAL not in details  # the hash of the text only, as for every broadcast


def test_a_correction_of_an_urgent_broadcast_is_urgent(app, client, citizen, twilio_api):
    citizen().send("Start")
    with app.app_context():
        from tests.conftest import submit_broadcast
        urgent_id = submit_broadcast({"text": "Bitte Fenster schließen", "urgent": True})["id"]
    run_sender(app)
    answer = post_correction(client, urgent_id, {"text": "Entwarnung für Adorf"}).get_json()
    assert answer["urgent"] is True
    assert scalar(app, "SELECT urgent FROM broadcasts WHERE id = ?", answer["id"]) == 1


@pytest.mark.parametrize("body, status, reason", [
    ({"text": ""}, 400, "text is missing or empty"),
    ({"text": "   "}, 400, "text is missing or empty"),
    ({"text": "Berichtigung:"}, 400, "text is missing or empty"),
    ({}, 400, "text is missing or empty"),
    ({"text": 5}, 400, "text is missing or empty"),
    ({"text": "x" * 1600}, 400, "text is too long"),
    ({"text": "gut", "urgent": False}, 400, "takes only its text"),
    ([], 400, "expected a JSON object"),
    ("{", 400, "the body must be JSON"),
])
def test_bad_corrections_are_refused_with_a_reason_and_write_nothing(
        app, client, reached, body, status, reason):
    original_id, _ = reached
    before = scalar(app, "SELECT count(*) FROM broadcasts")
    response = post_correction(client, original_id, body)
    assert response.status_code == status
    assert reason in response.get_json()["error"]
    assert scalar(app, "SELECT count(*) FROM broadcasts") == before


def test_only_a_broadcast_that_went_out_can_be_corrected(app, client, citizen):
    citizen().send("Start")
    assert post_correction(client, 999, {"text": "gut"}).status_code == 404
    with write(database(app)) as conn:
        draft = broadcasts.create(conn, "Entwurf", draft=True)[0]
        planned = broadcasts.create(conn, "Später", send_at="2099-01-01T00:00:00Z")[0]
    queued = broadcast(app, "Geht gleich raus")
    for broadcast_id, reason in ((draft, "has not been sent yet"),
                                 (planned, "has not been sent yet"),
                                 (queued, "still going out")):
        response = post_correction(client, broadcast_id, {"text": "gut"})
        assert response.status_code == 409 and reason in response.get_json()["error"]
    assert scalar(app, "SELECT count(*) FROM broadcasts WHERE corrects IS NOT NULL") == 0


def test_a_broadcast_that_reached_nobody_still_there_cannot_be_corrected(
        app, client, citizen, twilio_api):
    erika = citizen()
    erika.send("Start")
    original_id = broadcast(app, ORIGINAL)
    run_sender(app)
    erika.send("Stop")
    response = post_correction(client, original_id, {"text": "gut"})
    assert response.status_code == 409 and "reached no one" in response.get_json()["error"]


def test_the_archive_and_the_feed_show_the_correction_beside_the_original(
        app, client, reached, twilio_api):
    original_id, _ = reached
    correction_id = post_correction(client, original_id, {"text": "Erst ab Dienstag."}
                                    ).get_json()["id"]
    run_sender(app)
    page = client.get("/").get_data(as_text=True)
    original = page[page.index(f'id="meldung-{original_id}"'):]
    assert "Berichtigt:" in original[:original.index("</li>")]
    assert f"#meldung-{correction_id}" in original[:original.index("</li>")]
    correction = page[page.index(f'id="meldung-{correction_id}"'):]
    assert f"Berichtigung der <a href=\"/?vor={original_id + 1}#meldung-{original_id}\"" in \
        correction[:correction.index("</li>")]
    feed = client.get("/feed.xml").get_data(as_text=True)
    assert f'rel="related" href="https://infokanal.example.de/#meldung-{original_id}"' in feed


def test_quote_keeps_the_first_words_on_one_line():
    assert corrections.quote("Kurz") == "Kurz"
    assert corrections.quote("Eins\nzwei  drei") == "Eins zwei drei"
    assert corrections.quote("a " * 20) == "a a a a a a a a…"
    assert len(corrections.quote("x" * 200)) == corrections.QUOTE_CHARACTERS
    assert corrections.compose("Alt", "Berichtigung: neu") == "Berichtigung: „Alt“ – neu"


# --- the console: roles and the four-eyes rule ------------------------------------------------

@pytest.fixture
def county(config, accounts_database, twilio_api):  # noqa: F811 - the imported fixture
    """An app with one account per role, three subscribers, and a broadcast they all got."""
    def make(mode="off", **settings):
        shutil.copy(accounts_database, config["DATABASE_PATH"])
        app = create_app(dict(config, DATA_KEY=DATA_KEY, APPROVAL_REQUIRED=mode, **settings))
        citizen = citizens_of(app.test_client())
        for _ in range(3):
            citizen().send("Start")
        original_id = broadcast(app, ORIGINAL)
        run_sender(app)
        return app, original_id
    return make


def correction_form(console, original_id):
    """The hidden fields of the broadcast page's correction form (CSRF and one-time token)."""
    html = console.client.get(f"/admin/broadcasts/{original_id}").get_data(as_text=True)
    return {"csrf_token": csrf_from(html),
            "nonce": re.search(r'name="nonce" value="([^"]+)"', html).group(1)}


def correct_in_console(console, original_id, text, form=None, **translations):
    """Send the correction form as a press officer does: the page, then the form."""
    fields = dict(form or correction_form(console, original_id), correction=text)
    fields.update({f"correction_{code}": value for code, value in translations.items()})
    return console.client.post(f"/admin/broadcasts/{original_id}/correct", data=fields)


def test_a_publisher_corrects_from_the_broadcasts_page(county, twilio_api):
    app, original_id = county()
    paul = signed_in(app, "paul")
    page = paul.client.get(f"/admin/broadcasts/{original_id}").get_data(as_text=True)
    assert 'id="correction-heading">Berichtigung</h2>' in page
    assert "<strong>3 " in page
    response = correct_in_console(paul, original_id, "Erst ab Dienstag.")
    assert response.status_code == 302
    correction_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert rows(app, "SELECT status, corrects, created_by FROM broadcasts WHERE id = ?",
                correction_id) == [("queued", original_id, "console:paul")]
    shown = paul.client.get(f"/admin/broadcasts/{correction_id}").get_data(as_text=True)
    assert f"Berichtigung von\n  <a href=\"/admin/broadcasts/{original_id}\">" in shown
    run_sender(app)
    assert len(texts_to(twilio_api, "Berichtigung:")) == 3


def test_an_empty_correction_in_the_console_is_refused_in_german(county):
    app, original_id = county()
    response = correct_in_console(signed_in(app, "paul"), original_id, "  ")
    assert response.status_code == 400
    assert "Bitte schreiben Sie, was richtig ist" in response.get_data(as_text=True)
    assert scalar(app, "SELECT count(*) FROM broadcasts") == 1


@pytest.mark.parametrize("mode, who", [("1", "paul"), ("off", "erika")])
def test_a_correction_waits_for_approval_as_a_broadcast_would(county, twilio_api, mode, who):
    """With APPROVAL_REQUIRED a publisher's correction waits for a second one; an editor's
    always waits. Until then nobody gets it; then exactly the original's recipients."""
    app, original_id = county(mode)
    writer = signed_in(app, who)
    response = correct_in_console(writer, original_id, "Erst ab Dienstag.")
    assert response.status_code == 302
    correction_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert rows(app, "SELECT status, recipients FROM broadcasts WHERE id = ?",
                correction_id) == [("awaiting_approval", 3)]
    assert scalar(app, "SELECT count(*) FROM deliveries WHERE broadcast_id = ?",
                  correction_id) == 0
    # Someone who joins meanwhile does not get it when it is approved.
    citizens_of(app.test_client())().send("Start")
    assert approve(signed_in(app, "petra"), f"/admin/broadcasts/{correction_id}"
                   ).status_code == 302
    assert rows(app, "SELECT status, recipients FROM broadcasts WHERE id = ?",
                correction_id) == [("queued", 3)]
    run_sender(app)
    assert len(texts_to(twilio_api, "Berichtigung:")) == 3
    assert [action for (action,) in rows(
        app, "SELECT action FROM audit_log WHERE target = ? ORDER BY id",
        f"broadcast:{correction_id}")] == ["broadcast_corrected", "broadcast_approved"]


def test_the_form_is_only_on_a_page_of_a_broadcast_that_went_out(county):
    app, original_id = county()
    paul = signed_in(app, "paul")
    with write(database(app)) as conn:
        draft = broadcasts.create(conn, "Entwurf", draft=True)[0]
    assert 'id="correction"' not in paul.client.get(f"/admin/broadcasts/{draft}").get_data(
        as_text=True)
    assert re.search(r'id="correction"', paul.client.get(
        f"/admin/broadcasts/{original_id}").get_data(as_text=True))


def test_over_the_budget_a_publishers_correction_waits_for_an_admin(county, twilio_api):
    app, original_id = county(PRICE_PER_MESSAGE="0.045", MONTHLY_BUDGET="0.10")
    response = correct_in_console(signed_in(app, "paul"), original_id, "Erst ab Dienstag.")
    correction_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert rows(app, "SELECT status, over_budget FROM broadcasts WHERE id = ?",
                correction_id) == [("awaiting_approval", 1)]
    # An admin's goes, marked; so does the token's.
    response = correct_in_console(signed_in(app, "anna"), original_id, "Erst ab Mittwoch.")
    correction_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert rows(app, "SELECT status, over_budget FROM broadcasts WHERE id = ?",
                correction_id) == [("queued", 1)]
    answer = post_correction(app.test_client(), original_id, {"text": "Erst ab Donnerstag."})
    assert answer.status_code == 202 and answer.get_json()["over_budget"] is True


# --- sent once: the console's one-time token, the same text again refused ---------------------

def test_a_double_click_on_the_correction_form_sends_it_once(county, twilio_api):
    app, original_id = county()
    paul = signed_in(app, "paul")
    form = correction_form(paul, original_id)
    first = correct_in_console(paul, original_id, "Erst ab Dienstag.", form)
    again = correct_in_console(paul, original_id, "Erst ab Dienstag.", form)  # the second click
    assert first.status_code == 302 and again.status_code == 302
    assert again.headers["Location"].endswith(f"/admin/broadcasts/{original_id}")
    assert "schon abgeschickt" in paul.client.get(again.headers["Location"]).get_data(
        as_text=True)
    assert scalar(app, "SELECT count(*) FROM broadcasts WHERE corrects = ?", original_id) == 1
    run_sender(app)
    got = [m["To"] for m in twilio_api.messages if m.get("Body", "").startswith("Berichtigung:")]
    assert len(got) == 3 == len(set(got))


def test_the_same_correction_again_from_a_fresh_page_is_refused_naming_the_first(county):
    app, original_id = county()
    paul = signed_in(app, "paul")
    first = correct_in_console(paul, original_id, "Erst ab Dienstag.")
    correction_id = int(first.headers["Location"].rsplit("/", 1)[1])
    again = correct_in_console(paul, original_id, "Erst ab Dienstag.")
    assert again.status_code == 409
    assert f"(Meldung Nr. {correction_id})" in again.get_data(as_text=True)
    assert scalar(app, "SELECT count(*) FROM broadcasts WHERE corrects = ?", original_id) == 1


def test_an_api_retry_of_the_same_correction_is_refused_naming_the_first(app, client, reached):
    original_id, _ = reached
    first = post_correction(client, original_id, {"text": "Erst ab Dienstag."})
    assert first.status_code == 202
    retry = post_correction(client, original_id, {"text": "Erst ab Dienstag."})
    assert retry.status_code == 409
    assert retry.get_json()["existing"] == first.get_json()["id"]
    assert f"(broadcast {first.get_json()['id']})" in retry.get_json()["error"]
    assert scalar(app, "SELECT count(*) FROM broadcasts WHERE corrects = ?", original_id) == 1
    # Another text is another correction; the same text later is a correction on purpose.
    assert post_correction(client, original_id, {"text": "Erst ab Mittwoch."}).status_code == 202
    rows(app, "UPDATE broadcasts SET created_at = ? WHERE corrects = ?",
         "2000-01-01T00:00:00.000000Z", original_id)
    assert post_correction(client, original_id, {"text": "Erst ab Dienstag."}).status_code == 202


# --- in the reader's language -----------------------------------------------------------------

@pytest.fixture
def three_languages(config, accounts_database, twilio_api):  # noqa: F811 - the fixture
    """Erika reads German, John English, Lea Leichte Sprache; the original went out in German
    and English. Returns (app, original id, {name: citizen})."""
    shutil.copy(accounts_database, config["DATABASE_PATH"])
    app = create_app(dict(config, DATA_KEY=DATA_KEY, LANGUAGES="de,en,de-LS"))
    person = citizens_of(app.test_client())
    people = {name: person() for name in ("erika", "john", "lea")}
    people["erika"].send("Start")
    people["john"].send("Subscribe")
    people["lea"].send("Start")
    people["lea"].send("Leichte Sprache")
    original = app.test_client().post("/api/broadcasts", headers=AUTH, json={
        "text": ORIGINAL, "translations": {"en": "County road 12 is closed from Monday."}})
    run_sender(app)
    return app, original.get_json()["id"], people


def test_a_correction_goes_in_each_readers_language_quoting_what_they_read(
        three_languages, twilio_api):
    app, original_id, people = three_languages
    response = post_correction(app.test_client(), original_id, {
        "text": "Die Sperrung beginnt erst am Dienstag.",
        "translations": {"en": "The closure starts on Tuesday.",
                         "de-LS": "Die Straße ist erst ab Dienstag zu."}})
    assert response.status_code == 202, response.get_json()
    run_sender(app)
    got = texts_to(twilio_api, HEADS)
    assert got[people["erika"].number] == (
        "Berichtigung: „Die Kreisstraße 12 zwischen Adorf und Bedorf ist…“ – Die Sperrung "
        "beginnt erst am Dienstag.")
    # Each in the words of the reader's language.
    assert got[people["john"].number] == (
        "Correction: “County road 12 is closed from Monday.” – The closure starts on Tuesday.")
    # Lea got the original's main text, so that is what her correction quotes.
    assert got[people["lea"].number] == (
        "Achtung, Fehler in der Nachricht „Die Kreisstraße 12 zwischen Adorf und Bedorf ist…“. "
        "Richtig ist: Die Straße ist erst ab Dienstag zu.")


def test_without_a_translation_a_reader_gets_the_main_correction(three_languages, twilio_api):
    app, original_id, people = three_languages
    answer = post_correction(app.test_client(), original_id,
                             {"text": "Erst ab Dienstag."}).get_json()
    run_sender(app)
    got = texts_to(twilio_api, "Berichtigung:")
    assert set(got.values()) == {answer["text"]} and len(got) == 3


@pytest.mark.parametrize("translations, reason", [
    ({"fr": "Mardi."}, "translation into 'fr'"),
    ({"en": ""}, "translations.en is missing or empty"),
    ({"en": "x" * 1590}, "translations.en is too long"),
    (["en"], "translations must be an object"),
])
def test_bad_translations_of_a_correction_are_refused(three_languages, translations, reason):
    app, original_id, _ = three_languages
    response = post_correction(app.test_client(), original_id,
                               {"text": "Erst ab Dienstag.", "translations": translations})
    assert response.status_code == 400 and reason in response.get_json()["error"]
    assert scalar(app, "SELECT count(*) FROM broadcasts WHERE corrects = ?", original_id) == 0


def test_the_console_form_takes_a_translation_per_language(three_languages, twilio_api):
    app, original_id, people = three_languages
    paul = signed_in(app, "paul")
    page = paul.client.get(f"/admin/broadcasts/{original_id}").get_data(as_text=True)
    assert 'name="correction_en"' in page and 'name="correction_de-LS"' in page
    response = correct_in_console(paul, original_id, "Erst ab Dienstag.",
                                  en="Only from Tuesday.")
    assert response.status_code == 302
    run_sender(app)
    got = texts_to(twilio_api, HEADS)
    assert got[people["john"].number].startswith("Correction: “County road 12")
    assert got[people["john"].number].endswith("” – Only from Tuesday.")
    assert got[people["lea"].number].endswith("– Erst ab Dienstag.")
