"""Broadcasts end to end: the Procfile's web and worker, the real twilio client, a fake API."""

import json
import signal
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import free_port, wait_for


@pytest.fixture
def deployment(env, twilio_api, start_web, start_worker):
    """Web server whose PUBLIC_URL is its own loopback address, so status callbacks arrive."""

    class Deployment:
        def __init__(self):
            port = free_port()
            self.env = dict(env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}",
                            SENDER_POLL_SECONDS="0.05")
            self.web = None
            self.worker = None
            self.api = twilio_api

        def start(self, **overrides):
            self.env.update({k: str(v) for k, v in overrides.items()})
            self.web = start_web(self.env)
            return self

        def start_worker(self):
            self.worker = start_worker(self.env)
            return self.worker

        def citizens(self, n):
            people = [self.web.citizen() for _ in range(n)]
            for person in people:
                assert person.send("Start").status_code == 200
            return people

        def post(self, **payload):
            response = self.web.api("POST", "/api/broadcasts", json=payload)
            assert response.status_code == 202, response.text
            return response.json()

        def get(self, broadcast_id):
            return self.web.api("GET", f"/api/broadcasts/{broadcast_id}").json()

        def wait_status(self, broadcast_id, *statuses, timeout=30):
            return wait_for(lambda: (b := self.get(broadcast_id))["status"] in statuses and b,
                            timeout=timeout, message=f"broadcast {broadcast_id} {statuses}")

        def received(self):
            """How many messages each number got from the fake API."""
            return Counter(m["To"].removeprefix("whatsapp:") for m in self.api.messages)

    return Deployment()


def test_every_active_subscriber_gets_exactly_one_message(deployment):
    d = deployment.start()
    people = d.citizens(12)
    leavers = people[:3]
    for person in leavers:
        person.send("Stop")
    answer = d.post(text="Sperrung der B 27 ab 20 Uhr.")
    assert answer["recipients"] == 9
    d.start_worker()
    done = d.wait_status(answer["id"], "done")
    received = d.received()
    assert received == Counter({p.number: 1 for p in people[3:]})
    assert done["counts"]["sent"] + done["counts"]["delivered"] + done["counts"]["read"] == 9
    message = d.api.messages[0]
    assert message["Body"] == "Sperrung der B 27 ab 20 Uhr."
    assert message["From"] == "whatsapp:+4930901820"
    assert message["StatusCallback"] == d.env["PUBLIC_URL"] + "/twilio/status"


def test_template_mode_sends_content_sid_and_variables_without_body(deployment):
    d = deployment.start(BROADCAST_CONTENT_SID="HX" + "a" * 32)
    d.citizens(2)
    answer = d.post(text="Hochwasserwarnung Stufe 2")
    d.start_worker()
    d.wait_status(answer["id"], "done")
    for message in d.api.messages:
        assert message["ContentSid"] == "HX" + "a" * 32
        assert json.loads(message["ContentVariables"]) == {"1": "Hochwasserwarnung Stufe 2"}
        assert "Body" not in message


def test_status_callbacks_out_of_order_and_repeated_keep_the_highest(deployment):
    d = deployment.start()
    d.api.callbacks = ["sent", "delivered", "read"]
    d.api.callback_shuffle = True
    d.api.callback_repeat = 2
    d.citizens(5)
    answer = d.post(text="Info")
    d.start_worker()
    d.wait_status(answer["id"], "done")
    final = wait_for(lambda: (b := d.get(answer["id"]))["counts"]["read"] == 5 and b,
                     message="all read")
    assert final["counts"] == {"queued": 0, "sent": 0, "delivered": 0, "read": 5, "failed": 0,
                               "skipped": 0}
    wait_for(lambda: sum(d.api.callback_results.values()) == 5 * 3 * 2, message="callbacks")
    assert d.api.callback_results == Counter({200: 5 * 3 * 2})


def test_failed_callback_counts_as_failed_with_its_code(deployment):
    d = deployment.start()
    d.api.callbacks = ["sent", "undelivered"]
    d.api.callback_error_code = 63024
    d.citizens(2)
    answer = d.post(text="Info")
    d.start_worker()
    final = wait_for(lambda: (b := d.get(answer["id"]))["counts"]["failed"] == 2 and b,
                     message="failed callbacks counted")
    assert final["errors"] == {"63024": 2}


def test_opt_out_reported_in_a_callback_unsubscribes_the_citizen(deployment):
    d = deployment.start()
    d.api.callbacks = ["sent", "failed"]
    d.api.callback_error_code = 21610
    d.citizens(2)
    answer = d.post(text="Info")
    d.start_worker()
    wait_for(lambda: d.get(answer["id"])["errors"] == {"21610": 2}, message="opt-outs counted")
    wait_for(lambda: d.web.api("GET", "/api/stats").json()["subscribers"] == 0,
             message="both unsubscribed")


def test_permanent_errors_fail_one_delivery_and_the_rest_go_on(deployment):
    d = deployment.start()
    people = d.citizens(6)
    d.api.recipient_errors[people[0].number] = (400, 21211)
    d.api.recipient_errors[people[1].number] = (400, 63003)
    d.api.recipient_errors[people[2].number] = (400, 63016)
    answer = d.post(text="Info")
    d.start_worker()
    done = d.wait_status(answer["id"], "done")
    assert done["counts"]["failed"] == 3 and done["counts"]["sent"] == 3
    assert done["errors"] == {"21211": 1, "63003": 1, "63016": 1}
    assert d.api.requests == 6, "permanent errors are not retried"


def test_opted_out_recipient_is_failed_and_unsubscribed(deployment):
    d = deployment.start()
    people = d.citizens(3)
    d.api.recipient_errors[people[0].number] = (400, 21610)
    answer = d.post(text="Info")
    d.start_worker()
    done = d.wait_status(answer["id"], "done")
    assert done["errors"] == {"21610": 1}
    wait_for(lambda: d.web.api("GET", "/api/stats").json()["subscribers"] == 2,
             message="opted-out citizen unsubscribed")


def test_throttling_and_server_errors_are_retried_until_everyone_has_it(deployment):
    d = deployment.start(SEND_RATE_LIMIT=200)
    people = d.citizens(10)
    d.api.error_queue = [(429, 20429), (429, 20429), (500, 20500), (503, 20503), "drop"]
    answer = d.post(text="Sturmwarnung")
    d.start_worker()
    done = d.wait_status(answer["id"], "done", timeout=40)
    received = d.received()
    assert set(received) == {p.number for p in people}
    assert done["counts"]["failed"] == 0
    # 5xx and dropped connections may have reached Twilio: counted as possible duplicates.
    assert done["retries_unknown"] == 3


def test_bad_credentials_pause_the_broadcast_instead_of_failing_everyone(deployment):
    d = deployment.start()
    d.citizens(4)
    d.api.auth_token = "rotated-at-twilio"  # our configured token no longer works
    answer = d.post(text="Info")
    d.start_worker()
    paused = d.wait_status(answer["id"], "paused")
    assert "credentials" in paused["pause_reason"]
    assert paused["counts"]["failed"] == 0
    assert paused["counts"]["queued"] == 4


def test_numbers_the_data_key_cannot_open_pause_the_broadcast(deployment):
    import sqlite3

    from cryptography.fernet import Fernet

    from bot.vault import new_key

    d = deployment.start()
    d.citizens(3)
    answer = d.post(text="Info")
    # As if the numbers had been written under a key the worker was not given.
    foreign = Fernet(new_key().encode()).encrypt(b"+4915100000000").decode()
    with sqlite3.connect(d.env["DATABASE_PATH"]) as conn:
        conn.execute("UPDATE subscribers SET phone_enc = ?", (foreign,))
    d.start_worker()
    paused = d.wait_status(answer["id"], "paused")
    assert paused["pause_reason"] == "data key"
    assert paused["counts"]["queued"] == 3 and paused["counts"]["failed"] == 0
    assert d.api.messages == []
    assert "DATA_KEY cannot decrypt" in d.worker.output()


def test_messaging_limit_pauses_and_resumes_by_itself(deployment):
    d = deployment.start(LIMIT_PAUSE_MINUTES=0.03)  # about two seconds
    people = d.citizens(4)
    d.api.error_queue = [(429, 63018)]
    answer = d.post(text="Info")
    d.start_worker()
    d.wait_status(answer["id"], "paused")
    done = d.wait_status(answer["id"], "done", timeout=30)
    assert done["counts"]["failed"] == 0
    assert set(d.received()) == {p.number for p in people}


def test_stop_wins_over_a_queued_delivery(deployment):
    d = deployment.start()
    people = d.citizens(3)
    answer = d.post(text="Info")
    people[0].send("Stop")
    d.start_worker()
    done = d.wait_status(answer["id"], "done")
    assert people[0].number not in d.received()
    assert done["counts"]["skipped"] == 1


def test_cancel_stops_what_has_not_been_sent(deployment):
    d = deployment.start(SEND_RATE_LIMIT=20)
    d.citizens(40)
    answer = d.post(text="Versehentlich")
    d.start_worker()
    wait_for(lambda: len(d.api.messages) >= 5, message="first sends")
    response = d.web.api("POST", f"/api/broadcasts/{answer['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    time.sleep(0.5)
    sent = len(d.api.messages)
    time.sleep(0.5)
    assert len(d.api.messages) == sent < 40
    final = d.get(answer["id"])
    assert final["counts"]["skipped"] == 40 - sent and final["counts"]["queued"] == 0


def test_scheduled_broadcast_goes_out_at_its_time(deployment):
    d = deployment.start()
    people = d.citizens(2)
    send_at = datetime.now(timezone.utc) + timedelta(seconds=2)
    answer = d.post(text="Termin", send_at=send_at.isoformat())
    assert answer["status"] == "scheduled"
    d.start_worker()
    late = d.citizens(1)  # subscribed before the send time: included
    assert datetime.now(timezone.utc) < send_at, "the late citizen came too late to count"
    d.wait_status(answer["id"], "done")
    assert set(d.received()) == {p.number for p in people + late}
    assert min(m["received_at"] for m in d.api.messages) >= send_at.timestamp()


def test_urgent_broadcast_overtakes_a_regular_one(deployment):
    d = deployment.start(SEND_RATE_LIMIT=40)
    d.citizens(30)
    regular = d.post(text="Stellenangebot")
    d.start_worker()
    wait_for(lambda: len(d.api.messages) >= 3, message="regular broadcast under way")
    urgent = d.post(text="Unwetterwarnung", urgent=True)
    d.wait_status(urgent["id"], "done", timeout=30)
    bodies = [m["Body"] for m in d.api.messages]
    assert bodies.count("Unwetterwarnung") == 30
    assert bodies.count("Stellenangebot") < 30, "the job offer waited"
    d.wait_status(regular["id"], "done", timeout=30)


def test_expired_broadcast_is_skipped_even_after_downtime(deployment):
    d = deployment.start()
    d.citizens(3)
    expires = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
    answer = d.post(text="Sturm heute Nacht", expires_at=expires)
    # The sender was down until after the storm.
    wait_for(lambda: datetime.now(timezone.utc) > datetime.fromisoformat(expires),
             timeout=5, interval=0.02, message="the expiry time")
    d.start_worker()
    done = d.wait_status(answer["id"], "done")
    assert d.api.messages == []
    assert done["counts"]["skipped"] == 3


def test_sender_killed_mid_broadcast_loses_nothing(deployment):
    d = deployment.start(SEND_RATE_LIMIT=30)
    people = d.citizens(60)
    answer = d.post(text="Evakuierung")
    worker = d.start_worker()
    wait_for(lambda: len(d.api.messages) >= 15, message="broadcast under way")
    worker.send_signal(signal.SIGKILL)
    worker.proc.wait(5)
    sent_before = len(d.api.messages)
    assert sent_before < 60
    d.start_worker()
    done = d.wait_status(answer["id"], "done", timeout=40)
    received = d.received()
    assert set(received) == {p.number for p in people}
    duplicates = sum(n - 1 for n in received.values())
    assert duplicates <= done["retries_unknown"]


def test_web_process_killed_mid_broadcast_loses_nothing(deployment):
    d = deployment.start(SEND_RATE_LIMIT=30)
    people = d.citizens(40)
    answer = d.post(text="Evakuierung")
    d.start_worker()
    wait_for(lambda: len(d.api.messages) >= 10, message="broadcast under way")
    d.web.send_signal(signal.SIGKILL)
    d.web.proc.wait(5)
    d.start()
    d.wait_status(answer["id"], "done", timeout=40)
    assert set(d.received()) == {p.number for p in people}


def test_demo_mode_delivers_into_the_outbox(env, start_web, start_worker, tmp_path):
    demo_env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    demo_env["SENDER_POLL_SECONDS"] = "0.05"
    web = start_web(demo_env)
    # No signature checks in demo mode: an unsigned webhook is accepted.
    reply = web.post("/twilio/messages", {"MessageSid": "SMdemo1",
                                          "From": "whatsapp:+4915199999999", "Body": "Start"},
                     {})
    assert reply.status_code == 200 and "Willkommen" in reply.text
    answer = web.api("POST", "/api/broadcasts", json={"text": "Probealarm"}).json()
    worker = start_worker(demo_env)
    wait_for(lambda: web.api("GET", f"/api/broadcasts/{answer['id']}").json()["status"] == "done",
             message="demo broadcast done")
    import sqlite3

    with sqlite3.connect(demo_env["DATABASE_PATH"]) as conn:
        rows = conn.execute("SELECT kind, to_masked, body FROM outbox ORDER BY id").fetchall()
    assert ("broadcast", "+49151•••9999", "Probealarm") in rows
    assert "DEMO MODE" in web.output() and "DEMO MODE" in worker.output()


def test_messaging_limit_reported_in_a_callback_pauses_and_sends_the_refused_again(deployment):
    d = deployment.start(LIMIT_PAUSE_MINUTES=0.05, SEND_RATE_LIMIT=4)  # a pause of 3 seconds
    people = d.citizens(8)
    d.api.callback_failures = [63018]  # Twilio accepts the first, then reports the limit
    answer = d.post(text="Info")
    d.start_worker()
    paused = d.wait_status(answer["id"], "paused")
    assert paused["pause_reason"] == "messaging limit (63018)"
    assert paused["counts"]["failed"] == 0
    refused = d.api.messages[0]["To"].removeprefix("whatsapp:")
    # The sender sets the resume time once it has handed back what it had claimed.
    wait_for(lambda: d.get(answer["id"])["resume_at"], message="resume time set by the sender")
    sent_when_paused = len(d.api.messages)
    time.sleep(0.5)
    if d.get(answer["id"])["status"] == "paused":
        assert len(d.api.messages) == sent_when_paused, "nothing goes out while paused"
    assert sent_when_paused < 8, "the rest waited instead of running into the limit"
    done = d.wait_status(answer["id"], "done", timeout=30)
    assert done["counts"]["failed"] == 0 and done["errors"] == {}
    received = d.received()
    assert set(received) == {p.number for p in people}
    assert received[refused] == 2 and sum(received.values()) == 9
    assert "messaging limit" in d.worker.output()


BAD_API_INPUT = [
    ("not JSON", {"data": "text=Hallo", "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}, "JSON"),
    ("broken JSON", {"data": '{"text": ', "headers": {"Content-Type": "application/json"}},
     "JSON"),
    ("empty text", {"json": {"text": ""}}, "text"),
    ("blank text", {"json": {"text": " \n\t "}}, "text"),
    ("too long", {"json": {"text": "x" * 1601}}, "1600"),
    ("bad URL", {"json": {"text": "ok", "media_url": "javascript:alert(1)"}}, "media_url"),
    ("empty URL", {"json": {"text": "ok", "media_url": ""}}, "media_url"),
    ("bad date", {"json": {"text": "ok", "send_at": "morgen früh"}}, "send_at"),
    ("past date", {"json": {"text": "ok", "send_at": "2020-01-01T10:00:00+01:00"}}, "past"),
    ("bad expiry", {"json": {"text": "ok", "expires_at": "31.12.2099"}}, "expires_at"),
]


def stored(env, table):
    import sqlite3

    with sqlite3.connect(env["DATABASE_PATH"]) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_bad_api_input_is_a_400_json_reason_and_queues_nothing(deployment):
    from tests.conftest import ADMIN_TOKEN

    d = deployment.start()
    d.citizens(2)
    for name, request, reason in BAD_API_INPUT:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **request.get("headers", {})}
        kwargs = {k: v for k, v in request.items() if k != "headers"}
        response = d.web.api("POST", "/api/broadcasts", headers=headers, **kwargs)
        assert response.status_code == 400, name
        assert response.headers["Content-Type"].startswith("application/json"), name
        assert reason in response.json()["error"], name
    assert stored(d.env, "broadcasts") == 0 and stored(d.env, "deliveries") == 0


def test_text_too_long_for_the_template_is_refused_by_the_served_app(deployment):
    d = deployment.start(BROADCAST_CONTENT_SID="HX" + "b" * 32)
    d.citizens(1)
    response = d.web.api("POST", "/api/broadcasts", json={"text": "x" * 925})
    assert response.status_code == 400 and "at most 924" in response.json()["error"]
    assert stored(d.env, "broadcasts") == 0 and stored(d.env, "deliveries") == 0


def test_a_send_slower_than_the_timeout_is_retried_and_counted(deployment):
    d = deployment.start(SEND_TIMEOUT_SECONDS=0.3)
    people = d.citizens(3)
    d.api.error_queue = [("slow", 1.5)]  # the first request hangs past our timeout
    answer = d.post(text="Info")
    d.start_worker()
    done = d.wait_status(answer["id"], "done", timeout=30)
    assert done["retries_unknown"] == 1
    assert done["counts"]["failed"] == 0 and done["counts"]["sent"] == 3
    received = d.received()
    assert set(received) == {p.number for p in people}
    assert sum(received.values()) - 3 <= done["retries_unknown"]


def test_callbacks_faster_than_the_senders_own_record_are_all_counted(deployment):
    """The fake posts sent, delivered and read the moment it accepts each message, before the
    sender has written down the message id (it flushes every tenth of a second)."""
    d = deployment.start(SEND_RATE_LIMIT=400)
    d.citizens(300)
    d.api.callbacks = ["sent", "delivered", "read"]
    answer = d.post(text="Schnell")
    d.start_worker()
    done = wait_for(lambda: (b := d.get(answer["id"]))["counts"]["read"] == 300 and b,
                    timeout=30, message="every message read")
    assert done["counts"] == {"queued": 0, "sent": 0, "delivered": 0, "read": 300,
                              "failed": 0, "skipped": 0}
    # A callback is counted once its commit is done, a moment before its answer reaches the
    # platform: the last answers may still be on their way.
    wait_for(lambda: sum(d.api.callback_results.values()) == 900, message="every answer")
    assert d.api.callback_results == {200: 900}
