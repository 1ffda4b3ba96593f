"""The broadcast API's contract, through the Flask app (no sender running)."""

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ADMIN_TOKEN, citizens_of

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def count(app, table):
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def subscribe(citizen, n):
    people = [citizen() for _ in range(n)]
    for person in people:
        person.send("Start")
    return people


def in_minutes(minutes):
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat()


def test_post_queues_one_delivery_per_active_subscriber(app, client, citizen):
    people = subscribe(citizen, 3)
    people[0].send("Stop")
    response = client.post("/api/broadcasts", json={"text": "Straße gesperrt"}, headers=AUTH)
    assert response.status_code == 202
    body = response.json
    assert body["status"] == "queued" and body["recipients"] == 2 and body["id"] == 1
    assert count(app, "deliveries") == 2


def test_scheduled_broadcast_waits_and_reports_current_audience(app, client, citizen):
    subscribe(citizen, 2)
    response = client.post("/api/broadcasts", json={"text": "Markt", "send_at": in_minutes(60)},
                           headers=AUTH)
    assert response.status_code == 202
    assert response.json["status"] == "scheduled" and response.json["recipients"] == 2
    detail = client.get(f"/api/broadcasts/{response.json['id']}", headers=AUTH).json
    assert detail["status"] == "scheduled" and detail["send_at"]


def test_get_shows_status_counts_and_errors_never_numbers(app, client, citizen):
    people = subscribe(citizen, 2)
    broadcast_id = client.post("/api/broadcasts", json={"text": "Info", "urgent": True,
                                                        "expires_at": in_minutes(30)},
                               headers=AUTH).json["id"]
    detail = client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH)
    assert detail.status_code == 200
    body = detail.json
    for key in ("id", "text", "status", "created_at", "recipients", "counts", "errors",
                "urgent", "expires_at"):
        assert key in body
    assert body["counts"] == {"queued": 2, "sent": 0, "delivered": 0, "read": 0, "failed": 0,
                              "skipped": 0}
    assert body["urgent"] is True
    text = detail.get_data(as_text=True)
    assert all(p.number.lstrip("+")[-7:] not in text for p in people)


def test_list_is_newest_first(client):
    for text in ("eins", "zwei", "drei"):
        client.post("/api/broadcasts", json={"text": text}, headers=AUTH)
    listed = client.get("/api/broadcasts", headers=AUTH).json["broadcasts"]
    assert [b["text"] for b in listed] == ["drei", "zwei", "eins"]


def test_unknown_broadcast_is_404_json(client):
    response = client.get("/api/broadcasts/999", headers=AUTH)
    assert response.status_code == 404 and "error" in response.json
    assert client.post("/api/broadcasts/999/cancel", headers=AUTH).status_code == 404


def test_cancel_skips_what_is_not_sent_and_cannot_repeat(app, client, citizen):
    subscribe(citizen, 3)
    broadcast_id = client.post("/api/broadcasts", json={"text": "x"}, headers=AUTH).json["id"]
    response = client.post(f"/api/broadcasts/{broadcast_id}/cancel", headers=AUTH)
    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    assert response.json["counts"]["skipped"] == 3 and response.json["counts"]["queued"] == 0
    assert client.post(f"/api/broadcasts/{broadcast_id}/cancel", headers=AUTH).status_code == 409


def test_recipients_above_the_messaging_tier_get_a_warning(config, citizen):
    from bot import create_app

    app = create_app(dict(config, MESSAGING_LIMIT_24H=1))
    client = app.test_client()
    for _ in range(2):
        citizens_of(client)().send("Start")
    body = client.post("/api/broadcasts", json={"text": "x"}, headers=AUTH).json
    assert body["recipients"] == 2 and "nur 1 von 2" in body["warnings"][0]
    assert body["plan"]["warning_codes"] == ["not_reachable_today"]


BAD = [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": "   \n\t "}, "text"),
    ({"text": 42}, "text"),
    ({"text": "x" * 1601}, "1600"),
    ({"text": "a\x00b"}, "NUL"),
    ({"text": "ok", "media_url": "javascript:alert(1)"}, "media_url"),
    ({"text": "ok", "media_url": "ftp://example.org/a.jpg"}, "media_url"),
    ({"text": "ok", "media_url": "https://"}, "media_url"),
    ({"text": "ok", "media_url": ""}, "media_url"),
    ({"text": "ok", "media_url": "   "}, "media_url"),
    ({"text": "ok", "media_url": 0}, "media_url"),
    ({"text": "ok", "media_url": False}, "media_url"),
    ({"text": "ok", "media_url": []}, "media_url"),
    ({"text": "ok", "send_at": "morgen früh"}, "send_at"),
    ({"text": "ok", "send_at": "2020-01-01T10:00:00+01:00"}, "past"),
    ({"text": "ok", "send_at": 1700000000}, "send_at"),
    ({"text": "ok", "expires_at": "2020-01-01T10:00:00Z"}, "expires_at"),
    ({"text": "ok", "urgent": "yes"}, "urgent"),
    (["not", "an", "object"], "JSON object"),
]


@pytest.mark.parametrize("payload,reason", BAD, ids=[f"{r}-{i}" for i, (_, r) in enumerate(BAD)])
def test_bad_input_is_400_with_a_reason_and_nothing_queued(app, client, citizen, payload,
                                                           reason):
    subscribe(citizen, 1)
    response = client.post("/api/broadcasts", json=payload, headers=AUTH)
    assert response.status_code == 400
    assert reason in response.json["error"]
    assert count(app, "broadcasts") == 0 and count(app, "deliveries") == 0


def test_body_that_is_not_json_is_400(app, client):
    response = client.post("/api/broadcasts", data="text=hallo", headers=AUTH,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "JSON" in response.json["error"]
    response = client.post("/api/broadcasts", data="{broken", headers=AUTH,
                           content_type="application/json")
    assert response.status_code == 400
    assert count(app, "broadcasts") == 0


def test_template_mode_leaves_the_text_what_the_templates_own_words_leave_and_refuses_media(
        config):
    from bot import create_app

    client = create_app(dict(config, BROADCAST_CONTENT_SID="HX" + "1" * 32)).test_client()
    too_long = client.post("/api/broadcasts", json={"text": "x" * 925}, headers=AUTH)
    assert too_long.status_code == 400
    assert too_long.json["error"] == (
        "text is 925 characters; sent as the approved template it may have at most 924 "
        "(WhatsApp takes 1024 with the template's own words, which take 100: "
        "TEMPLATE_FIXED_CHARACTERS)")
    media = client.post("/api/broadcasts", json={"text": "x", "media_url": "https://a.de/b.jpg"},
                        headers=AUTH)
    assert media.status_code == 400
    assert client.post("/api/broadcasts", json={"text": "x" * 924},
                       headers=AUTH).status_code == 202
    # A template with few words of its own leaves the text more.
    roomy = create_app(dict(config, BROADCAST_CONTENT_SID="HX" + "1" * 32,
                            TEMPLATE_FIXED_CHARACTERS=24)).test_client()
    assert roomy.post("/api/broadcasts", json={"text": "x" * 1000},
                      headers=AUTH).status_code == 202
    assert roomy.post("/api/broadcasts", json={"text": "x" * 1001},
                      headers=AUTH).status_code == 400


def test_on_meta_the_template_limits_the_text_as_on_twilio(config):
    """Meta's broadcasts go out as META_TEMPLATE: a text of free-form length would be taken
    here and then refused by WhatsApp for every citizen."""
    from bot import create_app
    from tests.test_meta_webhook import meta_settings

    client = create_app(meta_settings(config)).test_client()
    too_long = client.post("/api/broadcasts", json={"text": "x" * 1500}, headers=AUTH)
    assert too_long.status_code == 400 and "at most 924" in too_long.json["error"]
    assert client.post("/api/broadcasts", json={"text": "x" * 924},
                       headers=AUTH).status_code == 202


@pytest.mark.parametrize("value", ["-1", "901", "viel"])
def test_template_words_beyond_what_leaves_a_text_room_stop_the_start(config, value):
    from bot import create_app
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="TEMPLATE_FIXED_CHARACTERS"):
        create_app(dict(config, TEMPLATE_FIXED_CHARACTERS=value))


def test_broadcast_api_needs_the_token(client):
    assert client.post("/api/broadcasts", json={"text": "x"}).status_code == 401
    assert client.get("/api/broadcasts").status_code == 401
    assert client.get("/api/broadcasts/1",
                      headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_naive_times_are_read_as_german_local_time(client):
    body = client.post("/api/broadcasts", json={"text": "x", "send_at": "2099-07-01T18:00:00"},
                       headers=AUTH).json
    assert body["send_at"].startswith("2099-07-01T16:00:00")  # CEST is UTC+2


def test_status_callback_for_unknown_sid_is_acknowledged(client, citizen):
    response = citizen().post_signed("/twilio/status", {"MessageSid": "SM" + "f" * 32,
                                                        "MessageStatus": "delivered"})
    assert response.status_code == 200 and response.get_data() == b""


def test_status_callback_with_forged_signature_is_403(client, citizen):
    response = citizen().post_signed("/twilio/status", {"MessageSid": "SM1",
                                                        "MessageStatus": "read"},
                                     signature="Zm9yZ2Vk")
    assert response.status_code == 403


def test_cli_broadcast_queues_like_the_api(app, citizen):
    subscribe(citizen, 2)
    result = app.test_cli_runner().invoke(args=["broadcast", "Probealarm", "--urgent"])
    assert result.exit_code == 0, result.output
    assert "2 subscribers" in result.output
    assert count(app, "deliveries") == 2
    bad = app.test_cli_runner().invoke(args=["broadcast", "   "])
    assert bad.exit_code != 0 and "text" in bad.output


def test_cli_broadcast_in_bytes_that_are_not_utf8_is_refused_with_the_reason(app, citizen):
    subscribe(citizen, 1)
    # What Python makes of the argument bytes b"a\xffb" from a terminal that is not UTF-8.
    text = b"Sperrung a\xffb".decode("utf-8", "surrogateescape")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["broadcast", text])
    assert result.exit_code == 1 and "not valid Unicode" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    media = runner.invoke(args=["broadcast", "Sperrung", "--media-url",
                                "https://x.example/" + "\udcff.png"])
    assert media.exit_code == 1 and "media_url" in media.output
    assert count(app, "broadcasts") == 0 and count(app, "deliveries") == 0


HUGE_ID = "9" * 30  # beyond SQLite's 64-bit integers


def test_ids_beyond_sqlites_range_are_unknown_not_a_crash(client):
    assert client.get(f"/api/broadcasts/{HUGE_ID}", headers=AUTH).status_code == 404
    for action in ("cancel", "resume"):
        response = client.post(f"/api/broadcasts/{HUGE_ID}/{action}", headers=AUTH)
        assert response.status_code == 404 and "error" in response.json
    largest = client.get(f"/api/broadcasts/{2 ** 63 - 1}", headers=AUTH)
    assert largest.status_code == 404


@pytest.mark.parametrize("query", [f"offset={HUGE_ID}", "offset=zwei", "limit=1.5",
                                   f"offset={2 ** 63}"])
def test_bad_paging_is_400_with_a_reason(client, query):
    response = client.get(f"/api/broadcasts?{query}", headers=AUTH)
    assert response.status_code == 400
    assert "offset" in response.json["error"]


def test_paging_at_the_end_of_sqlites_range_is_an_empty_list(client):
    client.post("/api/broadcasts", json={"text": "eins"}, headers=AUTH)
    response = client.get(f"/api/broadcasts?offset={2 ** 63 - 1}&limit={HUGE_ID}", headers=AUTH)
    assert response.status_code == 200 and response.json["broadcasts"] == []


def test_storage_treats_out_of_range_ids_as_unknown(app):
    from bot.store import broadcasts
    from bot.store.db import write
    from tests.conftest import database

    huge = int(HUGE_ID)
    conn = database(app).conn
    for action in (broadcasts.cancel, broadcasts.resume):
        with pytest.raises(broadcasts.BroadcastNotFound):
            with write(conn) as tx:
                action(tx, huge)
    with pytest.raises(broadcasts.BroadcastNotFound):
        broadcasts.get(conn, -huge)
    assert broadcasts.list_recent(conn, limit=huge, offset=huge) == []


def test_absent_or_null_media_url_means_text_only(app, client):
    for payload in ({"text": "ohne Bild"}, {"text": "ohne Bild", "media_url": None}):
        response = client.post("/api/broadcasts", json=payload, headers=AUTH)
        assert response.status_code == 202
        detail = client.get(f"/api/broadcasts/{response.json['id']}", headers=AUTH).json
        assert detail["media_url"] is None


EVERY_FIELD = {"id", "text", "media_url", "status", "urgent", "created_at", "send_at",
               "expires_at", "started_at", "finished_at", "recipients", "counts", "errors",
               "pause_reason", "resume_at", "retries_unknown", "hints", "topics", "translations",
               "source", "public", "estimated_cost", "edited", "reached", "retries_citizen_cap",
               "over_budget", "reactions", "corrects", "corrections", "poll"}


def fail_all(app, broadcast_id, code):
    """Record every delivery as refused with ``code``, the way the sender does."""
    import time

    from bot.platforms import twilio as gateway
    from bot.store import deliveries
    from bot.store.db import write
    from tests.conftest import database

    with write(database(app)) as conn:
        claimed = deliveries.claim(conn, broadcast_id, 100, time.time())
        deliveries.record_outcomes(
            conn, [], [(code, gateway.classify_code(code), c.delivery_id) for c in claimed],
            [], [], {})


def test_free_form_refusals_come_with_a_hint_to_configure_a_template(app, client, citizen):
    subscribe(citizen, 2)
    refused = client.post("/api/broadcasts", json={"text": "a"}, headers=AUTH).json["id"]
    fine = client.post("/api/broadcasts", json={"text": "b"}, headers=AUTH).json["id"]
    fail_all(app, refused, "63016")
    detail = client.get(f"/api/broadcasts/{refused}", headers=AUTH).json
    assert set(detail) == EVERY_FIELD
    assert detail["errors"] == {"63016": 2}
    assert len(detail["hints"]) == 1 and "BROADCAST_CONTENT_SID" in detail["hints"][0]
    listed = {b["id"]: b for b in client.get("/api/broadcasts", headers=AUTH).json["broadcasts"]}
    assert listed[refused]["hints"] == detail["hints"]
    assert listed[fine]["hints"] == [] and set(listed[fine]) == EVERY_FIELD
    cancelled = client.post(f"/api/broadcasts/{fine}/cancel", headers=AUTH).json
    assert cancelled["hints"] == []


def test_failures_the_operator_cannot_cure_have_no_hint(app, client, citizen):
    subscribe(citizen, 1)
    broadcast_id = client.post("/api/broadcasts", json={"text": "a"}, headers=AUTH).json["id"]
    fail_all(app, broadcast_id, "63003")
    assert client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH).json["hints"] == []
