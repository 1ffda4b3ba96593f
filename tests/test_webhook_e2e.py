"""The citizen webhook through the Procfile's web command (gunicorn, several workers)."""

import concurrent.futures
import sqlite3

import pytest
import requests
from twilio.request_validator import RequestValidator

from bot.vault import new_key
from tests.conftest import (ACCOUNT_SID, ADMIN_TOKEN, AUTH_TOKEN, COUNTY_NUMBER, PUBLIC_URL,
                            Citizen, WebServer, reply_text)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "infokanal.db"
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": COUNTY_NUMBER, "PUBLIC_URL": PUBLIC_URL,
        "ADMIN_TOKEN": ADMIN_TOKEN, "DATA_KEY": new_key(), "DATABASE_PATH": str(path),
        "CONTACT_INFO": "www.testhausen.de/kontakt", "WEB_CONCURRENCY": "3",
    }
    web = WebServer(env)
    yield web
    web.stop()


def active(server):
    return server.api("GET", "/api/stats").json()["subscribers"]


def test_start_stop_and_notice_over_gunicorn(server):
    erika = server.citizen()
    before = active(server)
    welcome = erika.send("Start")
    assert welcome.status_code == 200
    assert welcome.headers["Content-Type"].startswith("application/xml")
    assert "Willkommen" in reply_text(welcome.text)
    assert active(server) == before + 1
    assert "www.testhausen.de/kontakt" in reply_text(erika.send("Wo ist das Bürgerbüro?").text)
    assert "abgemeldet" in reply_text(erika.send("Stop").text)
    assert active(server) == before


# Conversations as a citizen has them, each step: what they write, a fragment of the reply
# (None: no reply, an empty <Response/>), and whether they are subscribed afterwards.
CONVERSATIONS = {
    "keyword spellings": [(" start ", "Willkommen", True), ("START", "schon angemeldet", True),
                          ("Stopp!", "abgemeldet", False), ("Anmelden", "Willkommen", True),
                          ("abmelden.", "abgemeldet", False)],
    "help, subscribed or not": [("Hilfe", '„Start“ = anmelden', False), ("Start", "Willkommen", True),
                                ("info", '„Stop“ = abmelden', True)],
    "stop twice and without subscription": [("Stop", "nicht angemeldet", False),
                                            ("Start", "Willkommen", True),
                                            ("Stop", "abgemeldet", False),
                                            ("Stop", "nicht angemeldet", False)],
    "only Start subscribes again after Stop": [("Start", "Willkommen", True),
                                               ("Stop", "abgemeldet", False),
                                               ("Wann kommt der Bus?", 'schreiben Sie „Start“', False),
                                               ("Start", "Willkommen", True)],
    "notice at most once per window": [("Mein Antrag?", "www.testhausen.de/kontakt", False),
                                       ("Hallo??", None, False), ("Start", "Willkommen", True),
                                       ("Danke!", None, True)],
}


@pytest.mark.parametrize("steps", CONVERSATIONS.values(), ids=CONVERSATIONS.keys())
def test_conversations_over_gunicorn(server, steps):
    citizen = server.citizen()
    subscribed = False
    for body, expected, subscribed_after in steps:
        before = active(server)
        response = citizen.send(body)
        assert response.status_code == 200, body
        reply = reply_text(response.text)
        if expected is None:
            assert reply is None, body
        else:
            assert expected in reply, (body, reply)
        # Tests in this module run one at a time: the count moves only by this citizen.
        assert active(server) - before == int(subscribed_after) - int(subscribed), body
        subscribed = subscribed_after


def test_media_only_message_gets_the_notice(server):
    citizen = server.citizen()
    response = citizen.send("", NumMedia="1", MediaUrl0="https://api.twilio.com/media/ME1",
                            MediaContentType0="image/jpeg")
    assert response.status_code == 200
    assert "keine persönlichen Anfragen" in reply_text(response.text)


def test_unknown_fields_from_twilio_are_accepted(server):
    response = server.citizen().send("Start", ReferralNumMedia="0", SomeNewField="x" * 100)
    assert response.status_code == 200 and "Willkommen" in reply_text(response.text)


@pytest.mark.parametrize("signature", [None, "", "for-another-url"])
def test_missing_or_misdirected_signature_is_403_and_writes_nothing(server, signature):
    citizen = server.citizen()
    before = active(server)
    params = citizen.params("Start")
    if signature == "for-another-url":
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            "https://elsewhere.example.org/twilio/messages", params)
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = server.session.post(server.url + "/twilio/messages", data=params,
                                   headers=headers, timeout=10)
    assert response.status_code == 403
    assert active(server) == before
    # The same MessageSid, signed properly, is still new: nothing was recorded of it.
    assert "Willkommen" in reply_text(citizen.post_signed("/twilio/messages", params).text)


def test_missing_from_is_400(server):
    citizen = server.citizen()
    response = citizen.post_signed("/twilio/messages", citizen.params("Start", From=None))
    assert response.status_code == 400 and "From" in response.text


def test_replay_is_answered_with_empty_response(server):
    erika = server.citizen()
    params = erika.params("Start")
    assert "Willkommen" in reply_text(erika.post_signed("/twilio/messages", params).text)
    replay = erika.post_signed("/twilio/messages", params)
    assert replay.status_code == 200 and reply_text(replay.text) is None


def test_forged_signature_is_403(server):
    erika = server.citizen()
    before = active(server)
    response = erika.post_signed("/twilio/messages", erika.params("Start"), signature="AAAA")
    assert response.status_code == 403
    assert active(server) == before


@pytest.mark.parametrize("body", ["x" * 5000, "a\x00b", "\u202eStart", "😀" * 100,
                                  "1; DELETE FROM subscribers"],
                         ids=["5000-chars", "nul", "rtl-mark", "emoji", "sql"])
def test_bad_bodies_never_give_5xx(server, body):
    response = server.citizen().send(body)
    assert response.status_code == 200
    assert reply_text(response.text)


def test_malformed_from_is_400(server):
    erika = server.citizen()
    response = erika.post_signed("/twilio/messages", erika.params("Start", From="whatsapp:abc"))
    assert response.status_code == 400 and "From" in response.text


def test_oversized_request_is_refused_without_5xx(server):
    # On its own connection: the server closes it rather than read 400 KB it refused, and a
    # pooled keep-alive connection would then fail the next test's request.
    erika = Citizen(lambda path, params, headers: requests.post(
        server.url + path, data=params, headers=headers, timeout=30),
        public_url=server.public_url)
    response = erika.post_signed("/twilio/messages", erika.params("y" * 400_000))
    assert response.status_code in (403, 413)


def test_concurrent_starts_from_many_workers_neither_lose_nor_double(server):
    def post(path, params, headers):
        # A connection per request, as Twilio's webhooks come.
        return requests.post(server.url + path, data=params, headers=headers, timeout=30)

    citizens = [Citizen(post, public_url=server.public_url) for _ in range(60)]
    before = active(server)
    # Every citizen sends Start twice, all at once, across the gunicorn workers.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda c: c.send("Start"), citizens * 2))
    assert all(r.status_code == 200 for r in replies)
    texts = [reply_text(r.text) for r in replies]
    assert sum("Willkommen" in t for t in texts) == 60
    assert sum("schon angemeldet" in t for t in texts) == 60
    assert active(server) == before + 60


def test_healthz_over_gunicorn(server):
    assert server.session.get(server.url + "/healthz").json() == {"status": "ok"}


def test_stats_needs_the_token(server):
    response = server.api("GET", "/api/stats", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["error"]


def test_no_phone_number_in_the_server_log(server):
    erika = server.citizen()
    erika.send("Start")
    erika.send("Stop")
    assert erika.number.lstrip("+")[-8:] not in server.output()


def test_database_file_never_holds_a_number_in_clear(server):
    erika = server.citizen()
    erika.send("Start")
    path = server.log_path.parent / "infokanal.db"
    with sqlite3.connect(path) as conn:
        dump = "\n".join(conn.iterdump())
    assert erika.number.lstrip("+") not in dump
