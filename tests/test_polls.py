"""Polls in-process: the answers checked, the quick-reply buttons sent through the real twilio
client to the fake (and Meta's bodies to its fake's checks), taps through signed webhooks,
counted once per citizen, closed, kept private; a real SQLite file throughout."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot import create_app
from bot.platforms import meta
from bot.platforms.base import OutgoingMessage
from bot.store import privacy, retention
from tests import fake_meta
from tests.conftest import ADMIN_TOKEN, reply_text, rows, scalar
from tests.test_broadcast_sender import run_sender

POLL_TWO, POLL_THREE = "HX" + "2" * 32, "HX" + "3" * 32
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
QUESTION = "Soll der Wochenmarkt samstags länger offen bleiben?"


@pytest.fixture
def poll_app(config, twilio_api):
    """Production on Twilio, with the approved quick-reply contents for two and three answers
    (the fake knows them as such)."""
    twilio_api.quick_replies.update({POLL_TWO: 2, POLL_THREE: 3})
    return create_app(dict(config, POLL_CONTENT_SID=f"2={POLL_TWO},3={POLL_THREE}"))


@pytest.fixture
def api(poll_app):
    client = poll_app.test_client()

    def call(method, path, **kwargs):
        return client.open(path, method=method, headers=AUTH, **kwargs)
    return call


@pytest.fixture
def people(poll_app):
    from tests.conftest import citizens_of

    return citizens_of(poll_app.test_client())


def joined(people, n):
    found = [people() for _ in range(n)]
    for person in found:
        assert person.send("Start").status_code == 200
    return found


def tap(person, broadcast_id, number, title="Ja", **extra):
    """A tap on a quick-reply button as Twilio posts it (signed); the answer's text or None."""
    response = person.send(title, MessageType="button", ButtonText=title,
                           ButtonPayload=f"poll:{broadcast_id}:{number}", **extra)
    assert response.status_code == 200, response.text
    return reply_text(response.text)


def sent_poll(poll_app, api, people, n=3, answers=("Ja", "Nein")):
    """n subscribers, a poll to them, sent through the fake."""
    citizens = joined(people, n)
    answer = api("POST", "/api/broadcasts", json={"text": QUESTION, "answers": list(answers)})
    assert answer.status_code == 202, answer.get_json()
    run_sender(poll_app)
    return citizens, answer.get_json()["id"]


# -- what a poll may be ---------------------------------------------------------------------------

@pytest.mark.parametrize("answers, reason", [
    (["Ja"], "two or three answers, not 1"),
    (["A", "B", "C", "D"], "two or three answers, not 4"),
    (["Ja", "x" * 21], "answer 2 is 21 characters; a WhatsApp button holds at most 20"),
    (["Ja", "  "], "answer 2 is empty"),
    (["Ja", "ja"], "the answers must differ"),
    ("Ja, Nein", "answers must be a list"),
    (["Ja", 2], "answers must be a list"),
])
def test_answers_that_cannot_make_a_poll_are_refused_with_the_reason(api, poll_app, answers,
                                                                     reason):
    for path in ("/api/broadcasts", "/api/broadcasts/plan"):
        answer = api("POST", path, json={"text": QUESTION, "answers": answers})
        assert answer.status_code == 400 and reason in answer.get_json()["error"], answer.json
    assert scalar(poll_app, "SELECT count(*) FROM broadcasts") == 0


def test_a_poll_goes_without_a_picture_and_leaves_its_template_room_for_the_answers(api, poll_app):
    # Broadcasts go free-form here (no BROADCAST_CONTENT_SID): a picture could go, a poll's not.
    picture = api("POST", "/api/broadcasts", json={
        "text": QUESTION, "answers": ["Ja", "Nein"],
        "media_url": "https://infokanal.example.de/media/markt.jpg"})
    assert picture.status_code == 400 and "without a picture" in picture.get_json()["error"]
    long_text = api("POST", "/api/broadcasts", json={"text": "Frage " * 200,
                                                      "answers": ["Ja", "Nein"]})
    assert long_text.status_code == 400
    assert "a poll's text holds at most 824" in long_text.get_json()["error"]


def test_in_production_a_poll_needs_its_template_and_in_the_demo_it_works(config, twilio_api):
    production = create_app(config).test_client()
    for path in ("/api/broadcasts", "/api/broadcasts/plan"):
        answer = production.post(path, headers=AUTH, json={"text": QUESTION,
                                                           "answers": ["Ja", "Nein"]})
        assert answer.status_code == 400
        assert "set POLL_CONTENT_SID to 2=<its content SID>" in answer.get_json()["error"]
    only_two = create_app(dict(config, POLL_CONTENT_SID=f"2={POLL_TWO}")).test_client()
    assert only_two.post("/api/broadcasts", headers=AUTH, json={
        "text": QUESTION, "answers": ["Ja", "Nein", "Egal"]}).status_code == 400
    demo = create_app({k: v for k, v in config.items() if not k.startswith("TWILIO_")})
    answer = demo.test_client().post("/api/broadcasts", headers=AUTH, json={
        "text": QUESTION, "answers": ["Ja", "Nein"]})
    assert answer.status_code == 202 and answer.get_json()["answers"] == ["Ja", "Nein"]


def test_a_meta_poll_needs_the_meta_template(config):
    settings = {k: v for k, v in config.items() if not k.startswith("TWILIO_")}
    settings.update(WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN=fake_meta.ACCESS_TOKEN,
                    META_PHONE_NUMBER_ID=fake_meta.PHONE_NUMBER_ID,
                    META_APP_SECRET=fake_meta.APP_SECRET, META_VERIFY_TOKEN="verify-token-x",
                    META_TEMPLATE=fake_meta.TEMPLATE)
    refused = create_app(settings).test_client().post("/api/broadcasts", headers=AUTH, json={
        "text": QUESTION, "answers": ["Ja", "Nein"]})
    assert refused.status_code == 400
    assert "set META_POLL_TEMPLATE to 2=<its name>" in refused.get_json()["error"]
    taken = create_app(dict(settings, META_POLL_TEMPLATE="2=umfrage_2")).test_client().post(
        "/api/broadcasts", headers=AUTH, json={"text": QUESTION, "answers": ["Ja", "Nein"]})
    assert taken.status_code == 202


def test_a_poll_template_setting_must_name_a_template_per_number_of_answers(config):
    from bot.config import ConfigError

    for wrong in ("HXabc", "4=HXabc", "2=HXa,2=HXb", "2="):
        with pytest.raises(ConfigError, match="POLL_CONTENT_SID holds"):
            create_app(dict(config, POLL_CONTENT_SID=wrong))


# -- sending --------------------------------------------------------------------------------------

def test_a_poll_goes_out_as_the_quick_reply_content_with_the_answers_and_payloads(
        poll_app, api, people, twilio_api):
    citizens, broadcast_id = sent_poll(poll_app, api, people, answers=("Ja", "Nein", "Egal"))
    taken = [m for m in twilio_api.messages if m.get("ContentSid") == POLL_THREE]
    assert len(taken) == len(citizens) and not twilio_api.refused
    assert "Body" not in taken[0]
    assert json.loads(taken[0]["ContentVariables"]) == {
        "1": QUESTION, "2": "Ja", "3": "Nein", "4": "Egal", "5": f"poll:{broadcast_id}:1",
        "6": f"poll:{broadcast_id}:2", "7": f"poll:{broadcast_id}:3"}


def test_the_twilio_fake_holds_whatsapps_rules_for_an_approved_quick_reply_content(twilio_api):
    """WhatsApp approves no variable in a quick-reply button's title: the answers stand in
    the body, whose fixed words and the text, as sent, hold at most 1,024 characters."""
    from bot.domain import polls
    from tests.fake_twilio import BODY_LENGTH, CHANNEL_POLICY, QuickReply, quick_reply_refusal

    for wrong in (dict(titles=["{{2}}", "{{3}}"]), dict(body="{{1}} Antworten: {{2}}, {{3}}"),
                  dict(titles=["Ja"])):
        with pytest.raises(ValueError):
            QuickReply(2, **wrong)
    content = QuickReply(3)
    good = {"1": "Frage", "2": "Ja", "3": "Nein", "4": "Egal", "5": "poll:1:1",
            "6": "poll:1:2", "7": "poll:1:3"}
    assert quick_reply_refusal(good, content) is None
    assert content.rendered(good).startswith("Frage des Landkreises: Frage\n\nAntworten: "
                                             "1 = Ja, 2 = Nein, 3 = Egal.")
    assert quick_reply_refusal(dict(good, **{"6": "poll:1:1"}), content)[0] == CHANNEL_POLICY
    assert quick_reply_refusal({"1": "Frage"}, content) is not None  # the variables it takes
    longest = dict(good, **{"1": "x" * polls.TEXT_LIMIT, "2": "j" * 20, "3": "n" * 20,
                            "4": "e" * 20})
    assert quick_reply_refusal(longest, content) is None
    assert quick_reply_refusal(dict(longest, **{"1": "x" * 1024}), content)[0] == BODY_LENGTH


def meta_body(transport, **message):
    return json.loads(transport.body(OutgoingMessage(to="+4915100000001", **message)))


def test_meta_sends_a_poll_as_its_quick_reply_template_or_as_reply_buttons():
    fake = fake_meta.FakeMeta(templates={
        fake_meta.TEMPLATE: {"language": "de", "parameters": 1},
        "umfrage_2": {"language": "de", "parameters": 3, "buttons": 2}})
    buttons = (("poll:7:1", "Ja"), ("poll:7:2", "Nein"))
    template = meta.MetaTransport("token", "123", template=fake_meta.TEMPLATE,
                                  poll_names={None: {2: "umfrage_2"}})
    record = fake._check(meta_body(template, body=QUESTION, buttons=buttons, broadcast_id=7))
    assert record["template"] == "umfrage_2"
    assert record["parameters"] == [QUESTION, "Ja", "Nein"]
    assert record["buttons"] == ["poll:7:1", "poll:7:2"]
    # Where broadcasts go free-form (inside the window): reply buttons.
    free_form = meta.MetaTransport("token", "123")
    record = fake._check(meta_body(free_form, body=QUESTION, buttons=buttons))
    assert record["type"] == "interactive" and record["buttons"] == list(buttons)


def test_a_languages_poll_templates_are_read_and_sent_as_its_text_templates_are(config):
    """POLL_CONTENT_SID_DE_LS / META_POLL_TEMPLATE_DE_LS (the hyphen cannot stand in a
    setting's name), and Leichte Sprache's poll template goes out in German (de) to Meta."""
    values = create_app(dict(
        config, LANGUAGES="de,de-LS", POLL_CONTENT_SID=f"2={POLL_TWO}",
        POLL_CONTENT_SID_DE_LS="2=HX" + "5" * 32, META_POLL_TEMPLATE_DE_LS="2=umfrage_ls_2")).config
    assert values["POLL_CONTENT_SIDS"]["de-LS"] == {2: "HX" + "5" * 32}
    assert values["META_POLL_TEMPLATES"]["de-LS"] == {2: "umfrage_ls_2"}
    fake = fake_meta.FakeMeta(templates={
        fake_meta.TEMPLATE: {"language": "de", "parameters": 1},
        "umfrage_ls_2": {"language": "de", "parameters": 3, "buttons": 2}})
    transport = meta.MetaTransport("token", "123", template=fake_meta.TEMPLATE,
                                   poll_names={None: {2: "umfrage_2"},
                                               "de-LS": {2: "umfrage_ls_2"}})
    record = fake._check(meta_body(transport, body=QUESTION, language="de-LS", broadcast_id=7,
                                   buttons=(("poll:7:1", "Ja"), ("poll:7:2", "Nein"))))
    assert (record["template"], record["language"]) == ("umfrage_ls_2", "de")


@pytest.mark.parametrize("change, refusal", [
    (lambda b: b["action"]["buttons"].append(
        {"type": "reply", "reply": {"id": "x", "title": "x"}}) or
     b["action"]["buttons"].append({"type": "reply", "reply": {"id": "y", "title": "y"}}),
     "1 to 3 buttons"),
    (lambda b: b["action"]["buttons"][0]["reply"].update(title="x" * 21), "title must be"),
    (lambda b: b["action"]["buttons"][0]["reply"].update(id="x" * 257), "id must be"),
    (lambda b: b["action"]["buttons"][1]["reply"].update(title="Ja"), "unique"),
])
def test_the_meta_fake_holds_whatsapps_rules_for_reply_buttons(change, refusal):
    body = meta_body(meta.MetaTransport("token", "123"), body=QUESTION,
                     buttons=(("poll:7:1", "Ja"), ("poll:7:2", "Nein")))
    change(body["interactive"])
    with pytest.raises(fake_meta.Refusal, match=refusal):
        fake_meta.FakeMeta()._check(body)


def test_the_meta_fake_refuses_button_parameters_a_template_does_not_have():
    fake = fake_meta.FakeMeta(templates={"umfrage_2": {"language": "de", "parameters": 3,
                                                        "buttons": 2}})
    body = meta_body(meta.MetaTransport("token", "123", template="umfrage_2",
                                        poll_names={None: {2: "umfrage_2"}}),
                     body=QUESTION, buttons=(("poll:7:1", "Ja"), ("poll:7:2", "Nein")))
    body["template"]["components"][2]["index"] = "2"
    with pytest.raises(fake_meta.Refusal, match="index must be 0 to 1"):
        fake._check(body)
    plain = fake_meta.FakeMeta()
    body["template"]["name"] = fake_meta.TEMPLATE
    with pytest.raises(fake_meta.Refusal):
        plain._check(body)


# -- taps -----------------------------------------------------------------------------------------

def poll_of(api, broadcast_id):
    return api("GET", f"/api/broadcasts/{broadcast_id}").get_json()["poll"]


def test_a_tap_counts_once_per_citizen_and_a_later_tap_replaces_it(poll_app, api, people):
    (anna, ben, cem), broadcast_id = sent_poll(poll_app, api, people)
    assert tap(anna, broadcast_id, 1) == "Danke, Ihre Antwort ist gezählt."
    assert tap(anna, broadcast_id, 1) is None       # the same again: counted once, no thanks
    assert tap(ben, broadcast_id, 1) == "Danke, Ihre Antwort ist gezählt."
    assert tap(anna, broadcast_id, 2, "Nein") is None   # changed her mind: replaced, no thanks
    poll = poll_of(api, broadcast_id)
    assert poll == {"answers": [{"text": "Ja", "votes": 1, "percent": 50},
                                {"text": "Nein", "votes": 1, "percent": 50}],
                    "votes": 2, "closed_at": None}
    # Never a number in the votes: the keyed hash only.
    assert all(not voter.startswith("+") and anna.number not in voter
               for (voter,) in rows(poll_app, "SELECT voter FROM poll_votes"))
    assert api("GET", "/api/broadcasts").get_json()["broadcasts"][0]["poll"]["votes"] == 2


def test_a_forged_or_stray_tap_counts_for_nothing_and_draws_no_notice(poll_app, api, people):
    (anna,), broadcast_id = sent_poll(poll_app, api, people, n=1)
    late = joined(people, 1)[0]                 # joined after the poll went out
    plain = api("POST", "/api/broadcasts", json={"text": "Keine Frage"}).get_json()["id"]
    run_sender(poll_app)
    assert tap(late, broadcast_id, 1) is None
    assert tap(anna, broadcast_id, 3) is None   # no third answer
    assert tap(anna, plain, 1) is None          # not a poll
    assert tap(anna, 10 ** 17, 1) is None       # no such broadcast
    stranger = people()                         # never subscribed
    assert tap(stranger, broadcast_id, 1) is None
    assert poll_of(api, broadcast_id)["votes"] == 0
    assert scalar(poll_app, "SELECT count(*) FROM notice_throttle") == 0


def test_a_closed_poll_tells_a_later_tap_once_and_counts_nothing_more(poll_app, api, people):
    (anna, ben), broadcast_id = sent_poll(poll_app, api, people, n=2)
    tap(anna, broadcast_id, 1)
    closed = api("POST", f"/api/broadcasts/{broadcast_id}/poll/close")
    assert closed.status_code == 200 and closed.get_json()["poll"]["closed_at"]
    again = api("POST", f"/api/broadcasts/{broadcast_id}/poll/close")
    assert again.status_code == 409 and "was closed at" in again.get_json()["error"]
    assert tap(ben, broadcast_id, 2, "Nein") == "Die Umfrage ist beendet."
    assert tap(ben, broadcast_id, 2, "Nein") is None
    assert tap(anna, broadcast_id, 2, "Nein") == "Die Umfrage ist beendet."
    assert poll_of(api, broadcast_id)["answers"][0]["votes"] == 1
    assert poll_of(api, broadcast_id)["votes"] == 1
    assert rows(poll_app, "SELECT actor, action, target FROM audit_log "
                          "WHERE action = 'poll_closed'") == [
        ("api", "poll_closed", f"broadcast:{broadcast_id}")]
    plain = api("POST", "/api/broadcasts", json={"text": "Keine Frage"}).get_json()["id"]
    assert api("POST", f"/api/broadcasts/{plain}/poll/close").status_code == 404
    assert api("POST", "/api/broadcasts/999999/poll/close").status_code == 404


def test_a_typed_answer_to_a_poll_is_no_vote_and_draws_no_notice(poll_app, api, people,
                                                                 twilio_api):
    (anna, ben, cem), broadcast_id = sent_poll(poll_app, api, people)
    assert reply_text(anna.send("Ja").text) is None          # one of the answers, typed
    quoted = next(m["sid"] for m in twilio_api.messages if m["To"] == f"whatsapp:{ben.number}")
    assert reply_text(ben.send("Finde ich gut",
                               OriginalRepliedMessageSid=quoted).text) is None
    assert poll_of(api, broadcast_id)["votes"] == 0
    # Anything else is still a message: the notice, and the keywords still work.
    assert "keine persönlichen Anfragen" in reply_text(cem.send("Wann ist Markt?").text)
    assert "abgemeldet" in reply_text(anna.send("Stop").text)


def test_a_citizens_own_language_gets_the_thanks_in_it(config, twilio_api):
    twilio_api.quick_replies.update({POLL_TWO: 2})
    app = create_app(dict(config, POLL_CONTENT_SID=f"2={POLL_TWO}", LANGUAGES="de,en"))
    from tests.conftest import citizens_of

    person = citizens_of(app.test_client())()
    assert person.send("Subscribe").status_code == 200
    broadcast_id = app.test_client().post("/api/broadcasts", headers=AUTH, json={
        "text": QUESTION, "answers": ["Ja", "Nein"],
        "translations": {"en": "Should the market stay open longer?"}}).get_json()["id"]
    run_sender(app)
    assert tap(person, broadcast_id, 1) == "Thank you, your answer has been counted."


# -- privacy and retention ------------------------------------------------------------------------

def test_the_export_lists_a_citizens_votes_and_erasure_keeps_only_the_count(poll_app, api,
                                                                            people):
    (anna, ben), broadcast_id = sent_poll(poll_app, api, people, n=2)
    tap(anna, broadcast_id, 2, "Nein")
    tap(ben, broadcast_id, 1)
    vault = poll_app.extensions["infokanal"].vault
    from tests.conftest import database

    exported = privacy.export(database(poll_app).conn, vault, anna.number)
    assert [(v["broadcast_id"], v["answer"]) for v in exported["poll_votes"]] == [
        (broadcast_id, "Nein")]
    report = privacy.erase(database(poll_app).conn, vault, anna.number)
    assert report.poll_votes_anonymised == 1
    assert privacy.export(database(poll_app).conn, vault, anna.number)["poll_votes"] == []
    assert poll_of(api, broadcast_id)["votes"] == 2
    assert scalar(poll_app, "SELECT count(*) FROM poll_votes WHERE voter IS NULL") == 1


def test_whoever_leaves_is_no_longer_linked_to_their_vote_and_the_count_stays(poll_app, api,
                                                                              people):
    (anna, ben), broadcast_id = sent_poll(poll_app, api, people, n=2)
    tap(anna, broadcast_id, 1)
    assert api("POST", f"/api/broadcasts/{broadcast_id}/poll/close").status_code == 200
    tap(ben, broadcast_id, 1)               # only told that the poll is closed
    assert scalar(poll_app, "SELECT count(*) FROM poll_votes WHERE answer IS NULL") == 1
    assert anna.send("Stop").status_code == 200 and ben.send("Stop").status_code == 200
    assert scalar(poll_app, "SELECT count(*) FROM poll_votes WHERE voter IS NOT NULL") == 0
    assert scalar(poll_app, "SELECT count(*) FROM poll_votes") == 1   # the notice row went
    assert poll_of(api, broadcast_id)["votes"] == 1
    # Back again, the former subscription's vote is not in the export.
    anna.send("Start")
    from tests.conftest import database

    vault = poll_app.extensions["infokanal"].vault
    assert privacy.export(database(poll_app).conn, vault, anna.number)["poll_votes"] == []


def test_a_vote_keeps_only_its_day_and_the_letter_to_the_citizen_names_it(poll_app, api,
                                                                          people):
    """A time to the second would find the tap's own message id in the deduplication log."""
    from bot.ops.access_report import german_report
    from tests.conftest import database

    (anna,), broadcast_id = sent_poll(poll_app, api, people, n=1)
    tap(anna, broadcast_id, 2, "Nein")
    today = datetime.now(timezone.utc).date().isoformat()
    assert [r[0] for r in rows(poll_app, "SELECT voted_at FROM poll_votes")] == [today]
    data = privacy.export(database(poll_app).conn, poll_app.extensions["infokanal"].vault,
                          anna.number)
    letter = german_report(data, authority="Landkreis", contact="", dpo="",
                           timezone="Europe/Berlin", topic_names={}, language_names={},
                           main_language="de", keep={"delivery_days": 30, "consent_years": 3,
                                                     "notice_hours": 24, "backup_days": 7})
    day = datetime.now(timezone.utc).strftime("%d.%m.%Y")
    assert f"- {day}: „Nein“ auf Umfrage Nr. {broadcast_id}" in letter


def test_who_voted_is_forgotten_with_the_broadcasts_deliveries(poll_app, api, people):
    (anna,), broadcast_id = sent_poll(poll_app, api, people, n=1)
    tap(anna, broadcast_id, 1)
    from tests.conftest import database

    young = retention.cleanup(database(poll_app), poll_app.config)
    assert young["poll_voters_forgotten"] == 0
    later = datetime.now(timezone.utc) + timedelta(
        days=poll_app.config["RETENTION_DELIVERY_DAYS"] + 1)
    assert retention.cleanup(database(poll_app), poll_app.config,
                             now=later)["poll_voters_forgotten"] == 1
    assert scalar(poll_app, "SELECT count(*) FROM poll_votes WHERE voter IS NOT NULL") == 0
    assert poll_of(api, broadcast_id)["votes"] == 1


# -- the console ----------------------------------------------------------------------------------

def test_the_console_composes_a_poll_shows_its_results_and_closes_it(poll_app, people, officer):
    from tests.conftest import Console, OFFICER

    client = poll_app.test_client()
    assert poll_app.test_cli_runner().invoke(args=["users", "role", OFFICER, "publisher"])
    console = Console(client)
    console.sign_in()
    anna = joined(people, 1)[0]
    form = {"text": QUESTION, "answer_1": "Ja", "answer_2": "Nein", "answer_3": "",
            "public_shown": "1", "public": "1"}
    confirm = console.post("/admin/compose", form)
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'name="answer_2" value="Nein"' in page, page
    nonce = page.split('name="nonce" value="')[1].split('"')[0]
    sent = console.post("/admin/compose", dict(form, nonce=nonce, action="send"))
    assert sent.status_code == 302, sent.get_data(as_text=True)
    broadcast_id = int(sent.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    run_sender(poll_app)
    tap(anna, broadcast_id, 2, "Nein")
    detail = client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert 'id="poll"' in detail and "100 %" in detail and 'id="close-poll"' in detail
    closed = console.post(f"/admin/broadcasts/{broadcast_id}/poll/close", {},
                          token_page=f"/admin/broadcasts/{broadcast_id}")
    assert closed.status_code == 302
    detail = client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "(beendet)" in detail and 'id="close-poll"' not in detail


def test_a_forwarded_text_without_a_quoted_id_is_still_a_message():
    """Meta gives a forwarded text a context without an id: no reply to anything, and no
    reason to refuse the whole webhook."""
    fake = fake_meta.FakeMeta()
    body = fake.inbound_body("4915100000009", "Weitergeleitet")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["context"] = {"forwarded": True}
    parsed = meta.parse(json.dumps(body)).messages[0]
    assert parsed.body == "Weitergeleitet" and parsed.replied_to is None
    message["context"] = {"from": fake_meta.DISPLAY_PHONE_NUMBER, "id": "wamid.HBgLNDk="}
    assert meta.parse(json.dumps(body)).messages[0].replied_to == meta.opaque_id("wamid.HBgLNDk=")


def test_a_draft_poll_keeps_its_answers_and_its_limit_when_edited(api, poll_app, people):
    from bot.domain import announcements
    from bot.store import broadcasts
    from bot.web.database import get_db

    anna = joined(people, 1)[0]
    with poll_app.app_context():   # saved as a draft, as the console's "Als Entwurf speichern"
        broadcast_id = announcements.submit(
            get_db(), {"text": QUESTION, "answers": ["Ja", "Nein"]}, poll_app.config,
            created_by="console:presse", hold=broadcasts.DRAFT)["id"]
    too_long = api("PATCH", f"/api/broadcasts/{broadcast_id}", json={"text": "Frage " * 200})
    assert too_long.status_code == 400 and "a poll's text" in too_long.get_json()["error"]
    assert api("POST", f"/api/broadcasts/{broadcast_id}/send").status_code == 202
    run_sender(poll_app)
    assert tap(anna, broadcast_id, 2, "Nein") == "Danke, Ihre Antwort ist gezählt."
    assert poll_of(api, broadcast_id)["votes"] == 1


def test_a_test_send_of_a_poll_shows_the_staff_its_buttons(config, twilio_api):
    from tests.conftest import OFFICER, OFFICER_PASSWORD, Console, csrf_from

    staff = "+4915190000021"
    twilio_api.quick_replies.update({POLL_TWO: 2})
    app = create_app(dict(config, POLL_CONTENT_SID=f"2={POLL_TWO}",
                          TEST_RECIPIENTS=f"whatsapp:{staff}"))
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--role", "editor",
                                       "--password-stdin"], input=OFFICER_PASSWORD + "\n")
    console = Console(app.test_client())
    console.sign_in()
    form = {"text": QUESTION, "answer_1": "Ja", "answer_2": "Nein"}
    html = console.post("/admin/compose", form).get_data(as_text=True)
    nonce = html.split('name="nonce" value="')[1].split('"')[0]
    tested = console.client.post("/admin/compose", data=dict(
        form, csrf_token=csrf_from(html), nonce=nonce, action="test"))
    assert "Probeversand an 1 Testnummer gesendet" in tested.get_data(as_text=True)
    [sent] = twilio_api.messages
    assert sent["To"] == f"whatsapp:{staff}" and sent["ContentSid"] == POLL_TWO
    assert json.loads(sent["ContentVariables"]) == {
        "1": QUESTION, "2": "Ja", "3": "Nein", "4": "poll:0:1", "5": "poll:0:2"}
    assert not twilio_api.refused


def test_the_broadcast_command_asks_a_poll_too(poll_app):
    runner = poll_app.test_cli_runner()
    result = runner.invoke(args=["broadcast", QUESTION, "--answer", "Ja", "--answer", "Nein"])
    assert result.exit_code == 0, result.output
    assert rows(poll_app, "SELECT answers FROM polls") == [('["Ja", "Nein"]',)]
    refused = runner.invoke(args=["broadcast", QUESTION, "--answer", "Ja"])
    assert refused.exit_code != 0 and "two or three answers, not 1" in refused.output
