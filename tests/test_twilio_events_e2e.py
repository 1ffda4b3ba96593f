"""Receipts through Twilio's Event Streams sink survive the web process's outage, end to end:
the Procfile's web process (gunicorn) and worker with TWILIO_RECEIPTS=event-streams, a real
SQLite file, and the fake Twilio's sink (tests/fake_twilio.py), which batches, signs, retries
with backoff what is not answered 2xx in time and sometimes posts a batch twice, as Twilio's
does (its 5 s and four hours scaled down here, the logic the same). The web process is killed
(SIGKILL, its whole process group) in the middle of a broadcast and started again: every
receipt reaches the database, none twice. Forged, unsigned, replayed and unusable posts go
through the same front gunicorn runs.

One deployment for the module; its tests in the order they are written.
"""

import json
import signal
import sqlite3
import time

import pytest
import requests

from bot.platforms import twilio
from bot.vault import new_key
from tests.conftest import ADMIN_TOKEN, Process, WebServer, free_port, time_bound, wait_for
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.test_plan_end_to_end import seed

SUBSCRIBERS = 120
RATE = 40               # messages a second: the broadcast takes three
STATUSES = ["sent", "delivered", "read"]
TEST_SECONDS = 90


@pytest.fixture(autouse=True)
def bounded():
    with time_bound(TEST_SECONDS):
        yield


class Deployment:
    def __init__(self, tmp_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fake = FakeTwilio().start()
        fake = self.fake
        fake.callbacks, fake.callback_shuffle = list(STATUSES), True
        fake.event_sink = self.url + twilio.EVENTS_PATH
        # Twilio: 5 s to answer, retries for four hours; the same logic, in test time.
        fake.sink_timeout, fake.sink_backoff, fake.sink_backoff_max = 1.0, 0.1, 0.8
        fake.sink_retry_seconds = 60.0
        fake.sink_batch_size, fake.sink_batch_seconds = 20, 0.1
        fake.sink_duplicates = 0.2
        self.env = {
            "PORT": str(self.port), "PUBLIC_URL": self.url, "ADMIN_TOKEN": ADMIN_TOKEN,
            "DATA_KEY": new_key(),
            "DATABASE_PATH": str(tmp_path / "infokanal.db"),
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": "whatsapp:+4930901820", "TWILIO_API_URL": fake.url,
            "TWILIO_RECEIPTS": "event-streams", "SEND_RATE_LIMIT": str(RATE),
            "SENDER_POLL_SECONDS": "0.05",
        }
        seed(self.env, [(f"+49153{n:08d}", None, None) for n in range(SUBSCRIBERS)])
        self.web = WebServer(self.env)
        self.worker = Process("worker", self.env)
        wait_for(lambda: "Sender running" in self.worker.output()
                 or self.worker.proc.poll() is not None, timeout=30, message="the worker")
        assert self.worker.proc.poll() is None, self.worker.output()

    def kill_web(self):
        self.web.send_signal(signal.SIGKILL)
        self.web.proc.wait(10)
        self.web.stop()

    def stop(self):
        self.worker.stop()
        self.web.stop()
        self.fake.stop()

    def receipts(self):
        with sqlite3.connect(self.env["DATABASE_PATH"]) as conn:
            return dict(conn.execute("SELECT sid, receipt FROM deliveries WHERE sid IS NOT NULL"))

    def state(self):
        with sqlite3.connect(self.env["DATABASE_PATH"]) as conn:
            return (conn.execute("SELECT sid, receipt, receipt_rank, receipt_at, error_code "
                                 "FROM deliveries ORDER BY id").fetchall(),
                    conn.execute("SELECT * FROM message_status ORDER BY sid").fetchall(),
                    conn.execute("SELECT * FROM message_usage").fetchall())

    def post_events(self, body, signature=True, url=None):
        """``body`` (bytes) to the sink's path, signed as Twilio signs it (or not)."""
        signed, sig = self.fake.sign_events(url or self.url + twilio.EVENTS_PATH, body)
        headers = {"Content-Type": "application/json"}
        if signature is True:
            headers["X-Twilio-Signature"] = sig
        elif signature:
            headers["X-Twilio-Signature"] = signature
        return requests.post(self.url + signed.removeprefix(url or self.url), data=body,
                             headers=headers, timeout=10)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    deployment = Deployment(tmp_path_factory.mktemp("events"))
    yield deployment
    deployment.stop()


def test_no_receipt_is_lost_when_the_web_process_dies_mid_broadcast(deployment):
    fake = deployment.fake
    answer = deployment.web.api("POST", "/api/broadcasts", json={"text": "Probealarm heute"})
    assert answer.status_code == 202, answer.text
    broadcast_id = answer.json()["id"]
    # A third of the way through, the web process dies; the worker sends on.
    wait_for(lambda: len(fake.messages) >= SUBSCRIBERS // 3, timeout=30, message="sends")
    acknowledged_before = len(fake.sink_acknowledged)
    deployment.kill_web()
    time.sleep(1.5)
    refused_meanwhile = fake.sink_results["error"]
    deployment.web = WebServer(deployment.env)
    wait_for(lambda: deployment.web.api("GET", f"/api/broadcasts/{broadcast_id}").json()[
        "status"] == "done", timeout=40, message="the broadcast to finish")
    wait_for(fake.sink_settled, timeout=40, message="the sink to deliver every event")

    sent = {m["sid"] for m in fake.messages}
    assert len(sent) == SUBSCRIBERS
    # The outage did hit the sink (posts refused, then retried), and nothing expired.
    assert refused_meanwhile > 0 and acknowledged_before < len(fake.sink_events)
    assert fake.sink_results["expired"] == 0
    assert not [code for code in fake.sink_results if isinstance(code, int) and code >= 300]
    assert {e["id"] for e in fake.sink_events} == fake.sink_acknowledged
    # 0 receipts lost: every message's furthest status is in the database.
    wait_for(lambda: deployment.receipts() == dict.fromkeys(sent, "read"), timeout=20,
             message="every receipt stored")
    # Each event stored once, duplicates and all: the counts agree with the events made.
    with sqlite3.connect(deployment.env["DATABASE_PATH"]) as conn:
        counted = dict(conn.execute("SELECT name, value FROM counters WHERE name LIKE "
                                    "'webhook_events_%'"))
        usage = conn.execute("SELECT sum(n) FROM message_usage").fetchone()[0]
    assert counted["webhook_events_accepted"] == len(fake.sink_events)
    assert usage == SUBSCRIBERS
    # Event Streams carried them: no message asked for a status callback.
    assert not [m for m in fake.messages if "StatusCallback" in m]


def test_a_replayed_post_changes_nothing(deployment):
    events = deployment.fake.sink_events
    before = deployment.state()
    # A whole batch again, and one event with another status under a known id.
    replay = json.dumps(events[:20]).encode()
    assert deployment.post_events(replay).status_code == 200
    changed = dict(events[0], data=dict(events[0]["data"], messageStatus="FAILED",
                                        errorCode=21610), type=twilio.MESSAGE_EVENT_PREFIX
                   + "failed")
    assert deployment.post_events(json.dumps([changed]).encode()).status_code == 200
    assert deployment.state() == before


def test_forged_and_unsigned_posts_are_refused(deployment):
    sid = deployment.fake.messages[0]["sid"]
    body = json.dumps([{"specversion": "1.0", "id": "EZforged", "type":
                        twilio.MESSAGE_EVENT_PREFIX + "failed", "data": {
                            "messageSid": sid, "messageStatus": "FAILED",
                            "errorCode": 21610}}]).encode()
    before = deployment.state()
    assert deployment.post_events(body, signature=False).status_code == 403
    assert deployment.post_events(body, signature="Zm9yZ2VkIHNpZ25hdHVyZQ==").status_code == 403
    other = FakeTwilio(auth_token="another-accounts-token")
    url, signature = other.sign_events(deployment.url + twilio.EVENTS_PATH, body)
    assert requests.post(url, data=body, headers={"X-Twilio-Signature": signature},
                         timeout=10).status_code == 403
    assert deployment.state() == before


@pytest.mark.parametrize("body", [b"{not json", b'{"id": "EZ1"}', b'[{"id": "EZ2"}]',
                                  b"[" * 50_000 + b"]" * 50_000],
                         ids=["no json", "an object", "no type", "nested deep"])
def test_unusable_posts_are_a_400(deployment, body):
    before = deployment.state()
    response = deployment.post_events(body)
    assert response.status_code == 400, response.text
    assert deployment.state() == before
