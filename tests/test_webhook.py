"""What a citizen experiences, through the Flask app with signed webhooks and a real database."""

import pytest

from bot import create_app
from tests.conftest import ADMIN_TOKEN, PUBLIC_URL, citizens_of, reply_text, rows


def database_bytes(path):
    """The database file and its WAL/shm side files, as they are on disk."""
    import glob

    return b"".join(open(name, "rb").read() for name in sorted(glob.glob(path + "*")))


def subscriber_count(app):
    return rows(app, "SELECT count(*) FROM subscribers")[0][0]


def test_start_subscribes_and_welcomes(app, citizen):
    response = citizen().send("Start")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    text = reply_text(response.text)
    assert "Willkommen" in text and "Landkreis Musterstadt" in text and "Stop" in text
    assert subscriber_count(app) == 1


def test_second_start_keeps_one_subscription_and_says_so(app, citizen):
    erika = citizen()
    erika.send("Start")
    text = reply_text(erika.send("start!").text)
    assert "schon angemeldet" in text
    assert subscriber_count(app) == 1


def test_stop_removes_subscriber_and_confirms(app, citizen):
    erika = citizen()
    erika.send("Start")
    text = reply_text(erika.send("STOPP").text)
    assert "abgemeldet" in text
    assert subscriber_count(app) == 0


def test_stop_without_subscription_is_answered_politely(app, citizen):
    text = reply_text(citizen().send("Stop").text)
    assert "nicht angemeldet" in text
    assert rows(app, "SELECT count(*) FROM consent_events")[0][0] == 0


def test_start_works_again_after_stop(app, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Stop")
    assert "Willkommen" in reply_text(erika.send("Anmelden").text)
    assert subscriber_count(app) == 1


def test_a_question_after_stop_gets_the_notice_and_does_not_resubscribe(app, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Stop")
    text = reply_text(erika.send("Wann wird die Straße wieder frei?").text)
    assert "keine persönlichen Anfragen" in text
    assert "Bürgertelefon 0800 123 456" in text
    assert subscriber_count(app) == 0


def test_help_explains_the_channel_and_keywords(citizen):
    text = reply_text(citizen().send("Hilfe").text)
    assert "Start" in text and "Stop" in text


def test_notice_tells_non_subscribers_how_to_join(citizen):
    text = reply_text(citizen().send("Ich habe eine Frage zu meinem Antrag").text)
    assert "Bürgertelefon" in text and "Start" in text


def test_notice_to_subscribers_does_not_ask_them_to_join(citizen):
    erika = citizen()
    erika.send("Start")
    text = reply_text(erika.send("Danke!").text)
    assert "Bürgertelefon" in text and "Für Meldungen" not in text


def test_notice_goes_to_the_same_sender_at_most_once_per_window(citizen):
    erika = citizen()
    assert reply_text(erika.send("Hallo?").text)
    assert reply_text(erika.send("Hallo??").text) is None
    assert reply_text(citizen().send("Hallo?").text), "another citizen still gets it"


def test_notice_window_is_configurable(config, citizen):
    from bot import create_app

    app = create_app(dict(config, NOTICE_WINDOW_HOURS=0))
    erika = citizens_of(app.test_client())()
    assert reply_text(erika.send("Hallo?").text)
    assert reply_text(erika.send("Hallo??").text)


@pytest.mark.parametrize("extra", [
    {"Body": "", "NumMedia": "1", "MediaUrl0": "https://api.twilio.com/media/1",
     "MediaContentType0": "image/jpeg"},
    {"Body": "", "NumMedia": "1", "MediaContentType0": "audio/ogg",
     "MediaUrl0": "https://api.twilio.com/media/2"},
    {"Body": None},
    {"Body": "x" * 5000},
    {"Body": "Hallo\x00Welt"},
    {"Body": "مرحبا \u202eStart"},
    {"Body": "🌩️🌩️🌩️"},
    {"Body": "'); DROP TABLE subscribers; --"},
    {"SomeFieldTwilioAddsTomorrow": "value", "Body": "Frage"},
])
def test_odd_messages_get_the_notice_and_no_5xx(app, citizen, extra):
    body = extra.pop("Body", "unused")
    response = citizen().send(body, **extra)
    assert response.status_code == 200
    assert "keine persönlichen Anfragen" in reply_text(response.text)
    assert subscriber_count(app) == 0


@pytest.mark.parametrize("sender", [None, "", "+4915112345678", "whatsapp:015112345678",
                                    "whatsapp:+49abc", "whatsapp:+" + "1" * 40])
def test_malformed_from_is_refused_with_400_and_nothing_stored(app, citizen, sender):
    erika = citizen()
    params = erika.params("Start", From=sender)
    if sender is None:
        params.pop("From", None)
    response = erika.post_signed("/twilio/messages", params)
    assert response.status_code == 400
    assert "From" in response.text
    assert rows(app, "SELECT count(*) FROM inbound_messages")[0][0] == 0
    assert subscriber_count(app) == 0


def test_missing_message_sid_is_refused(app, citizen):
    erika = citizen()
    params = erika.params("Start")
    del params["MessageSid"]
    assert erika.post_signed("/twilio/messages", params).status_code == 400


def test_replayed_webhook_changes_nothing_and_gets_an_empty_response(app, citizen):
    erika = citizen()
    params = erika.params("Start")
    first = erika.post_signed("/twilio/messages", params)
    again = erika.post_signed("/twilio/messages", params)
    assert "Willkommen" in reply_text(first.text)
    assert again.status_code == 200 and reply_text(again.text) is None
    assert rows(app, "SELECT count(*) FROM consent_events")[0][0] == 1


def test_forged_signature_is_refused_and_nothing_written(app, citizen):
    erika = citizen()
    response = erika.post_signed("/twilio/messages", erika.params("Start"),
                                 signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403
    assert subscriber_count(app) == 0
    assert rows(app, "SELECT count(*) FROM inbound_messages")[0][0] == 0


def test_missing_signature_is_refused(app, client, citizen):
    response = client.post("/twilio/messages", data=citizen().params("Start"))
    assert response.status_code == 403


def test_signature_for_another_url_is_refused(app, citizen):
    erika = citizen()
    erika.public_url = "https://evil.example"
    assert erika.send("Start").status_code == 403
    assert subscriber_count(app) == 0


def test_signature_is_checked_against_public_url_not_the_proxied_url(app, client, citizen):
    # The test client calls http://localhost/…, Twilio signed https://infokanal.example.de/…
    erika = citizen()
    assert PUBLIC_URL.startswith("https://")
    assert erika.send("Start").status_code == 200


def test_signature_covers_the_query_string(app, client, citizen):
    from twilio.request_validator import RequestValidator

    from tests.conftest import AUTH_TOKEN

    erika = citizen()
    params = erika.params("Start")
    url = PUBLIC_URL + "/twilio/messages?county=1"
    good = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    assert client.post("/twilio/messages?county=1", data=params,
                       headers={"X-Twilio-Signature": good}).status_code == 200
    params = erika.params("Start")
    bad = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/twilio/messages", params)
    assert client.post("/twilio/messages?county=1", data=params,
                       headers={"X-Twilio-Signature": bad}).status_code == 403


def test_messages_that_are_not_keywords_are_never_stored(app, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Mein Name ist Erika Mustermann, Geburtsdatum 01.02.1950")
    raw = database_bytes(app.config["DATABASE_PATH"])
    # Whole words of the message: four digits alone turn up by chance in the hex of the
    # stored hashes (a few times in a hundred runs).
    assert b"Mustermann" not in raw and b"Geburtsdatum" not in raw and b"01.02.1950" not in raw


def test_consent_is_kept_under_a_keyed_hash_not_the_number(app, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Stop")
    events = rows(app, "SELECT phone_hash, action, keyword, message_sid FROM consent_events "
                       "ORDER BY id")
    assert [e[1] for e in events] == ["subscribe", "unsubscribe"]
    assert events[0][0] == events[1][0] and len(events[0][0]) == 64
    digits = erika.number.lstrip("+")
    assert all(digits not in str(e) for e in events)
    assert all(e[3].startswith("SM") for e in events)


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok"


def test_stats_counts_active_subscribers(client, citizen):
    for _ in range(3):
        citizen().send("Start")
    leaver = citizen()
    leaver.send("Start")
    leaver.send("Stop")
    response = client.get("/api/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200
    assert response.json["subscribers"] == 3


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic YWRtaW46YWRtaW4=", "Bearer ",
                                    ADMIN_TOKEN])
def test_stats_without_the_right_token_is_401_json(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/stats", headers=headers)
    assert response.status_code == 401
    assert "error" in response.json


def test_english_keyword_gets_an_english_answer_when_configured(config):
    from bot import create_app

    client = create_app(dict(config, LANGUAGES="de,en")).test_client()
    assert "Welcome" in reply_text(citizens_of(client)().send("Subscribe").text)


def test_an_opt_out_reported_in_a_status_callback_unsubscribes_at_once(app, citizen):
    """No worker runs here: the web process itself honours the platform's opt-out."""
    import time

    from bot.store import deliveries
    from bot.store.db import write
    from tests.conftest import ACCOUNT_SID, broadcast, database

    erika, other = citizen(), citizen()
    erika.send("Start")
    other.send("Start")
    broadcast_id = broadcast(app)
    sid = "SM" + "e" * 32
    with write(database(app)) as conn:
        claimed = deliveries.claim(conn, broadcast_id, 10, time.time())
        deliveries.record_outcomes(conn, [(sid, claimed[0].delivery_id)], [], [],
                                   [(0, c.delivery_id) for c in claimed[1:]], {})
    response = erika.post_signed("/twilio/status", {
        "MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610",
        "AccountSid": ACCOUNT_SID})
    assert response.status_code == 200
    assert subscriber_count(app) == 1
    assert rows(app, "SELECT action, keyword FROM consent_events ORDER BY id DESC LIMIT 1") == [
        ("unsubscribe", "platform-opt-out")]
    assert rows(app, "SELECT subscriber_id FROM deliveries WHERE sid = ?", sid) == [(None,)]


@pytest.mark.parametrize("language, keyword, told", [
    ("de", "Start", "Ihre Nummer wird verschlüsselt gespeichert; die Verwaltung sieht nicht, "
                    "wer angemeldet ist."),
    ("en", "Subscribe", "Your number is stored encrypted; the authority does not see who has "
                        "subscribed."),
])
def test_the_welcome_says_what_is_true_of_the_number_not_anonymous(config, language, keyword,
                                                                     told):
    # The stored data are pseudonymous (encrypted, found by a keyed hash), not anonymous.
    from bot import create_app

    app = create_app(dict(config, LANGUAGES="de,en"))
    text = reply_text(citizens_of(app.test_client())().send(keyword).text)
    assert told in text
    assert "anonym" not in text.lower()



def test_a_tap_on_a_button_that_is_no_keyword_draws_no_notice(app, citizen):
    """Twilio posts a tap on a quick-reply button with MessageType=button: no personal request,
    whatever its words."""
    response = citizen().send("Mehr erfahren", MessageType="button", ButtonText="Mehr erfahren",
                              ButtonPayload="mehr", OriginalRepliedMessageSid="SMorig0001")
    assert response.status_code == 200
    assert reply_text(response.text) is None
    assert rows(app, "SELECT count(*) FROM notice_throttle")[0][0] == 0


def test_a_tap_on_a_button_that_is_a_keyword_is_that_keyword(app, citizen):
    response = citizen().send("Start", MessageType="button", ButtonText="Start",
                              ButtonPayload="start")
    assert "Willkommen" in reply_text(response.text)
    assert subscriber_count(app) == 1


def test_a_reaction_is_no_request_either(app, citizen):
    response = citizen().send("", MessageType="reaction")
    assert reply_text(response.text) is None


# --- only the configured platform's webhooks ------------------------------------------------------

def meta_deployment(config, **extra):
    """Meta's platform in production, Twilio's settings left over from before the switch."""
    from tests.test_meta_webhook import meta_settings

    return create_app(dict(meta_settings(config), **extra))


def test_on_meta_twilios_webhooks_are_404_even_with_its_settings_left_over(config):
    """A signed Start through Twilio would subscribe the citizen and queue a Meta reply too."""
    app = meta_deployment(config)
    citizen = citizens_of(app.test_client())()
    answer = citizen.send("Start")
    assert answer.status_code == 404 and answer.is_json
    callback = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "read"}
    assert citizen.post_signed("/twilio/status", callback).status_code == 404
    assert subscriber_count(app) == 0
    assert rows(app, "SELECT count(*) FROM inbound_messages") == [(0,)]


def test_on_twilio_metas_webhook_and_handshake_are_404(app, client):
    from tests.test_meta_webhook import VERIFY_TOKEN, payload, post, text

    handshake = client.get("/meta/webhook", query_string={
        "hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": VERIFY_TOKEN})
    assert handshake.status_code == 404
    assert post(client, payload([text("+4915112345678", "Start")])).status_code == 404
    assert subscriber_count(app) == 0


def test_the_demo_takes_both_platforms_webhooks(config):
    demo = create_app({name: value for name, value in config.items()
                       if name not in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")})
    from tests.test_meta_webhook import payload, post, text

    client = demo.test_client()
    assert citizens_of(client)().send("Start").status_code == 200
    assert post(client, payload([text("+4915112345678", "Start")]), signed=False) \
        .status_code == 200
    assert subscriber_count(demo) == 2
