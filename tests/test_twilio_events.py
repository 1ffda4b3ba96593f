"""Twilio's Event Streams sink (``/twilio/events``) through Flask: signed JSON arrays of
CloudEvents, as tests/fake_twilio.py makes and signs them; each event stored once, in any order;
forged, unsigned and tampered posts refused (403), unusable ones 400, unknown events
acknowledged. The transport sends no StatusCallback in that mode. End to end, with the web
process killed mid-broadcast: test_twilio_events_e2e.py."""

import asyncio
import json

import pytest

from bot import create_app
from bot.config import ConfigError
from bot.platforms import twilio
from bot.platforms.base import OutgoingMessage
from tests.conftest import PUBLIC_URL, rows
from tests.fake_twilio import FakeTwilio

EVENTS_URL = PUBLIC_URL + twilio.EVENTS_PATH


@pytest.fixture
def app(config):
    return create_app(dict(config, TWILIO_RECEIPTS="event-streams"))


def event(sid, status, event_id, error_code=None, **data):
    body = {"messageSid": sid, "messageStatus": status.upper(), "to": "whatsapp:+4915100000001",
            **data}
    if error_code:
        body["errorCode"] = error_code
    return {"specversion": "1.0", "type": f"com.twilio.messaging.message.{status}",
            "source": f"/2010-04-01/Accounts/AC/Messages/{sid}.json", "id": event_id,
            "time": "2026-12-07T03:00:00.000Z", "data": body}


def post(client, body, signer=FakeTwilio(), url=EVENTS_URL, **headers):
    """Post ``body`` (events, or bytes as they are) signed as the sink signs it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signed, signature = signer.sign_events(url, raw)
    path = signed.removeprefix(PUBLIC_URL)
    headers = {"X-Twilio-Signature": signature, **headers}
    return client.post(path, data=raw, headers={k: v for k, v in headers.items() if v},
                       content_type="application/json")


def waiting(app):
    return {sid: (status, code) for sid, status, code in rows(
        app, "SELECT sid, status, error_code FROM message_status ORDER BY sid")}


def test_each_status_is_stored_once_whatever_the_order(app, client):
    batch = [event("SM1", "delivered", "EZ1"), event("SM1", "sent", "EZ2"),
             event("SM2", "failed", "EZ3", error_code=63016), event("SM3", "read", "EZ4")]
    assert post(client, batch).status_code == 200
    assert waiting(app) == {"SM1": ("delivered", None), "SM2": ("failed", "63016"),
                            "SM3": ("read", None)}
    counted = dict(rows(app, "SELECT name, value FROM counters WHERE name LIKE 'webhook_%'"))
    assert counted == {"webhook_events_accepted": 4}


def test_a_replayed_post_changes_nothing(app, client):
    batch = [event("SM1", "sent", "EZ1")]
    assert post(client, batch).status_code == 200
    before = rows(app, "SELECT * FROM message_status")
    # The same event again, in a post of its own and beside a later one: the later one counts.
    assert post(client, batch).status_code == 200
    assert rows(app, "SELECT * FROM message_status") == before
    # An event replayed with another status changes nothing either: the id says it was had.
    assert post(client, [event("SM1", "read", "EZ1")]).status_code == 200
    assert rows(app, "SELECT * FROM message_status") == before
    assert post(client, [event("SM1", "sent", "EZ1"),
                         event("SM1", "delivered", "EZ2")]).status_code == 200
    assert waiting(app) == {"SM1": ("delivered", None)}


@pytest.mark.parametrize("how", ["unsigned", "forged", "another token", "no body hash",
                                 "body changed", "another url"])
def test_a_post_not_signed_by_twilio_is_forbidden(app, client, how):
    batch = [event("SM1", "delivered", "EZ1")]
    raw = json.dumps(batch).encode()
    if how == "unsigned":
        response = post(client, batch, **{"X-Twilio-Signature": None})
    elif how == "forged":
        response = post(client, batch, **{"X-Twilio-Signature": "c2lnbmVkIGJ5IG5vIG9uZQ=="})
    elif how == "another token":
        response = post(client, batch, signer=FakeTwilio(auth_token="someone-elses-token"))
    elif how == "no body hash":
        from twilio.request_validator import RequestValidator
        signature = RequestValidator(FakeTwilio().auth_token).compute_signature(EVENTS_URL, {})
        response = client.post(twilio.EVENTS_PATH, data=raw, content_type="application/json",
                               headers={"X-Twilio-Signature": signature})
    elif how == "body changed":
        signed, signature = FakeTwilio().sign_events(EVENTS_URL, raw)
        forged = json.dumps([event("SM1", "failed", "EZ1", error_code=21610)]).encode()
        response = client.post(signed.removeprefix(PUBLIC_URL), data=forged,
                               content_type="application/json",
                               headers={"X-Twilio-Signature": signature})
    else:
        response = post(client, batch, url="https://elsewhere.example" + twilio.EVENTS_PATH)
    assert response.status_code == 403
    assert waiting(app) == {}


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe", b'{"id": "EZ1"}', b"[1, 2]", b'[{"type": "x"}]',
    json.dumps([{"id": "EZ1", "type": "com.twilio.messaging.message.sent"}]).encode(),
    json.dumps([event("", "sent", "EZ1")]).encode(),
    json.dumps([event("SM1", "sent", "EZ1"), event("S M;2", "sent", "EZ2")]).encode(),
    json.dumps([{"id": "EZ 1 <script>", "type": "x"}]).encode(),
    b"[" * 100_000 + b"]" * 100_000,
], ids=["text", "no utf-8", "object", "numbers", "no id", "no data", "no sid", "bad sid",
        "bad id", "nested deep"])
def test_an_unusable_post_is_a_400_and_stores_nothing(app, client, body):
    response = post(client, body)
    assert response.status_code == 400, response.data
    assert response.data.startswith(b"bad request: ")
    assert waiting(app) == {}


def test_events_we_do_not_track_are_acknowledged(app, client):
    batch = [{"specversion": "1.0", "type": "com.twilio.messaging.inbound-message.received",
              "id": "EZ9", "data": {"messageSid": "SM9"}},
             {"specversion": "1.0", "type": "com.twilio.voice.status-callback.call.ringing",
              "id": "EZ8", "data": {}},
             event("SM1", "partially_delivered", "EZ7")]
    assert post(client, batch).status_code == 200
    assert waiting(app) == {}


def test_old_event_ids_are_forgotten_after_a_few_days(app):
    from datetime import datetime, timedelta, timezone

    from bot.store import retention
    from bot.store.db import write
    from tests.conftest import database

    with write(database(app)) as conn:
        conn.execute("INSERT INTO event_receipts VALUES ('EZold', '2026-01-01T00:00:00.000000Z')")
        conn.execute("INSERT INTO event_receipts VALUES ('EZnew', ?)",
                     (datetime.now(timezone.utc).isoformat(),))
    counts = retention.cleanup(database(app).conn, app.config,
                               now=datetime.now(timezone.utc) + timedelta(hours=4))
    assert counts["event_receipts"] == 1
    assert rows(app, "SELECT event_id FROM event_receipts") == [("EZnew",)]


def test_with_event_streams_no_status_callback_is_asked_for(config, twilio_api):
    for receipts, callback in (("callbacks", PUBLIC_URL + "/twilio/status"),
                               ("event-streams", None)):
        app = create_app(dict(config, TWILIO_RECEIPTS=receipts))
        twilio_api.reset()

        async def send():
            transport = twilio.transport_from(app.config, 4)
            try:
                return await transport.send(OutgoingMessage("+4915100000001", "Probealarm"))
            finally:
                await transport.close()

        asyncio.run(send())
        assert twilio_api.messages[0].get("StatusCallback") == callback


def test_an_unknown_receipts_mode_is_refused(config):
    with pytest.raises(ConfigError, match="TWILIO_RECEIPTS must be callbacks or event-streams"):
        create_app(dict(config, TWILIO_RECEIPTS="kinesis"))
