"""What must not differ between the platforms, as one set of tests run against each one's fake.

Every test here runs once per platform (``twilio``, ``meta``), end to end: the Procfile's web
process (gunicorn with the front) and worker, on a real SQLite file, the platform's fake API on
loopback, and webhooks signed as that platform signs them. A small adapter per platform
(``TwilioSide``, ``MetaSide``) says how a citizen writes, where an answer arrives (Twilio's in
the webhook's TwiML, Meta's through the API, sent by the worker), how the fake is told to
refuse a message, and how the platform reports a status; the tests themselves speak only of
citizens, answers, broadcasts and counts.

Where the platforms differ on purpose, a small table says how (``OPT_OUT``, ``LIMIT``): a
Twilio opt-out (21610) is a Stop, while Meta's nearest code (131050) is a citizen turning off
marketing messages, which is their choice about such messages and not a Stop.

The processes of one platform serve all its tests (they are slow to start on a busy machine);
each test makes the citizens it needs and leaves no broadcast running.
"""

import base64
import itertools
import json
import secrets
import signal
import sqlite3
from collections import Counter
from dataclasses import dataclass

import pytest

from bot import vocabulary as v
from bot.platforms import meta
from tests import fake_meta
from tests.conftest import (Process, WebServer, audit_trail_broken, counts_disagreeing,
                            free_port, new_number, new_sid, reply_text, time_bound,
                            wait_for)
from tests.test_status_callbacks_e2e import callback as twilio_status
from tests.test_status_callbacks_e2e import post as post_twilio_status

# A bound on every test here, its share of the processes' start included.
TEST_SECONDS = 45
# How long the sender pauses a broadcast for the messaging limit, here: about two seconds.
LIMIT_PAUSE_MINUTES = 0.03


@dataclass(frozen=True)
class OptOut:
    """What a platform's "this citizen does not want it" code means here."""

    code: int
    kind: str           # our error kind for it
    unsubscribes: bool  # honoured as a Stop


# Twilio's 21610 is the citizen's opt-out at the platform: a Stop. Meta has no such code: a
# citizen who wants nothing more writes Stop or blocks the number; 131050 says they turned off
# marketing messages, so that one message is theirs to refuse, not the channel.
OPT_OUT = {
    "twilio": OptOut(21610, v.OPTED_OUT, unsubscribes=True),
    "meta": OptOut(131050, v.MARKETING_DECLINED, unsubscribes=False),
}
# The platform's word for WhatsApp's messaging limit: the broadcast pauses and resumes.
LIMIT = {"twilio": 63018, "meta": 131048}


class TwilioSide:
    """Twilio: answers come back in the webhook's TwiML; the fake is tests/fake_twilio.py."""

    name = "twilio"
    _HTTP_STATUS = {63018: 429}  # the messaging limit comes as "too many requests"

    def __init__(self, fake):
        self.fake = fake
        self.web = None
        self._answers = {}  # number → the TwiML answers it got, in order

    def env(self, env, web_url):
        # Status callbacks go to PUBLIC_URL, which the webhooks are signed for as well.
        return dict(env, PUBLIC_URL=web_url)

    def stop(self):
        pass  # the fake is the session's (conftest)

    def reset(self):
        self.fake.reset()
        self._answers.clear()

    @staticmethod
    def new_message_id():
        return new_sid()

    def citizen_writes(self, number, text, message_id=None):
        response = self.web.citizen(number).send(text, MessageSid=message_id or new_sid())
        assert response.status_code == 200, response.text
        answer = reply_text(response.text)
        if answer is not None:
            self._answers.setdefault(number, []).append(answer)

    def citizen_taps(self, number, title):
        """A tap on a quick-reply button of one of our messages, as Twilio posts it."""
        response = self.web.citizen(number).send(
            title, MessageType="button", ButtonText=title, ButtonPayload=title,
            OriginalRepliedMessageSid=new_sid())
        assert response.status_code == 200, response.text
        answer = reply_text(response.text)
        if answer is not None:
            self._answers.setdefault(number, []).append(answer)

    def answers_to(self, number):
        return list(self._answers.get(number, []))

    def broadcast_messages(self, text):
        """{number: [message id]} of the broadcast messages with this text the fake took."""
        sent = {}
        for message in list(self.fake.messages):
            if message.get("Body") == text:
                number = message["To"].removeprefix("whatsapp:")
                sent.setdefault(number, []).append(message["sid"])
        return sent

    def report_statuses(self, reports):
        """Post status callbacks, [(message id, number, status, error code or None)], in this
        order: Twilio posts one per request."""
        for message_id, number, status, code in reports:
            extra = {"To": f"whatsapp:{number}"}
            if code is not None:
                extra["ErrorCode"] = str(code)
            response = post_twilio_status(self.web, twilio_status(message_id, status, **extra))
            assert response.status_code == 200, response.text

    def receipts(self, statuses):
        """The fake reports these statuses of every message it takes, each message's in a
        shuffled order."""
        self.fake.callbacks = list(statuses)
        self.fake.callback_shuffle = True

    def fail_next(self, code):
        """The fake takes the next message, then reports it sent and failed with ``code``."""
        self.fake.callback_failures.append(code)

    def refuse(self, number, code):
        """The fake refuses every send to this number with ``code``."""
        self.fake.recipient_errors[number] = (400, code)

    def refuse_next(self, code):
        """The fake refuses the next send with ``code``, with the HTTP status Twilio gives it."""
        self.fake.error_queue.append((self._HTTP_STATUS.get(code, 400), code))

    def accepted(self):
        return len(self.fake.messages)

    def hold(self, more):
        """The fake takes ``more`` messages, then keeps further sends waiting."""
        self.fake.hold(len(self.fake.messages) + more)

    def release(self):
        self.fake.release()


class MetaSide:
    """Meta: the fake posts a citizen's message as Meta's signed webhook, and takes the
    answers, which the worker sends through the API; the fake is tests/fake_meta.py."""

    name = "meta"
    VERIFY_TOKEN = "test-meta-verify-token-not-a-real-one"

    def __init__(self):
        self.fake = None
        self.web = None

    def env(self, env, web_url):
        # The fake posts statuses and citizens' messages to the web process, so it starts
        # once the web process's address is known.
        self.fake = fake_meta.FakeMeta(webhook_url=web_url + meta.WEBHOOK_PATH).start()
        settings = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
        return dict(settings, WHATSAPP_PLATFORM="meta", PUBLIC_URL=web_url,
                    META_ACCESS_TOKEN=fake_meta.ACCESS_TOKEN,
                    META_PHONE_NUMBER_ID=fake_meta.PHONE_NUMBER_ID,
                    META_APP_SECRET=fake_meta.APP_SECRET, META_VERIFY_TOKEN=self.VERIFY_TOKEN,
                    META_API_URL=self.fake.url, META_TEMPLATE=fake_meta.TEMPLATE,
                    META_DISPLAY_PHONE_NUMBER="+" + fake_meta.DISPLAY_PHONE_NUMBER)

    def stop(self):
        if self.fake is not None:
            self.fake.stop()

    def reset(self):
        if self.fake is not None:
            self.fake.reset()

    @staticmethod
    def new_message_id():
        return "wamid." + base64.b64encode(secrets.token_bytes(24)).decode()

    def citizen_writes(self, number, text, message_id=None):
        answer = self.fake.post_inbound(number.lstrip("+"), text, message_id=message_id)
        assert answer == 200, answer

    def citizen_taps(self, number, title):
        answer = self.fake.post_inbound(number.lstrip("+"), title, kind="button",
                                        replied_to=self.new_message_id())
        assert answer == 200, answer

    def answers_to(self, number):
        return [record["text"] for record in self.fake.sent_to(number.lstrip("+"))
                if record["type"] == "text"]

    def broadcast_messages(self, text):
        sent = {}
        for record in list(self.fake.messages):
            if text in (record["parameters"] or [record["text"]]):
                sent.setdefault("+" + record["to"], []).append(record["id"])
        return sent

    def report_statuses(self, reports):
        """Post status reports, [(message id, number, status, error code or None)], in this
        order: Meta gathers them into one POST, as it often does."""
        # The fake's own status bodies, posted here and now rather than when the fake would:
        # the test decides the order they arrive in. Several go into the first one's change.
        bodies = [json.loads(self.fake.status_body(message_id, status, code))
                  for message_id, _, status, code in reports]
        value = bodies[0]["entry"][0]["changes"][0]["value"]
        value["statuses"] = [status for one in bodies
                             for status in one["entry"][0]["changes"][0]["value"]["statuses"]]
        body = json.dumps(bodies[0]).encode()
        response = self.web.session.post(
            self.web.url + meta.WEBHOOK_PATH, data=body, timeout=10,
            headers={"Content-Type": "application/json",
                     meta.SIGNATURE_HEADER: self.fake.sign(body)})
        assert response.status_code == 200, response.text

    def receipts(self, statuses):
        self.fake.statuses = list(statuses)
        self.fake.callback_shuffle = True

    def fail_next(self, code):
        self.fake.callback_failures.append(code)

    def refuse(self, number, code):
        self.fake.recipient_errors[number.lstrip("+")] = [400, code]

    def refuse_next(self, code):
        self.fake.error_queue.append([400, code])

    def accepted(self):
        return len(self.fake.messages)

    def hold(self, more):
        # The answers to citizens count among the messages the fake took.
        self.fake.hold(len(self.fake.messages) + more)

    def release(self):
        if self.fake is not None:
            self.fake.release()


class Deployment:
    """One platform's processes, shared by its tests: web (gunicorn, the front) and worker."""

    def __init__(self, side):
        self.side = side
        self.env = None
        self.web = None
        self.worker = None
        self.subscribed = set()  # numbers these tests subscribed and did not stop
        self._seen = Counter()    # number → answers already looked at
        self._texts = itertools.count(1)

    @property
    def platform(self):
        return self.side.name

    def reset(self):
        """A fresh start for the next test: the fake forgets what it took, and so do we."""
        self.side.reset()
        self._seen.clear()

    # -- processes ---------------------------------------------------------------------------

    def start(self, env):
        port = free_port()
        web_url = f"http://127.0.0.1:{port}"
        self.env = self.side.env(dict(env, PORT=str(port), SENDER_POLL_SECONDS="0.05",
                                      LIMIT_PAUSE_MINUTES=str(LIMIT_PAUSE_MINUTES)), web_url)
        self.web = WebServer(self.env)
        self.side.web = self.web
        self.start_worker()

    def start_worker(self):
        self.worker = Process("worker", self.env)
        wait_for(lambda: "Sender running" in self.worker.output() or self.worker.proc.poll()
                 is not None, timeout=20, message="the worker")
        assert self.worker.proc.poll() is None, self.worker.output()

    def stop(self):
        for process in (self.worker, self.web):
            if process is not None:
                process.stop()
        self.side.stop()

    def database(self):
        return sqlite3.connect(self.env["DATABASE_PATH"])

    # -- citizens ----------------------------------------------------------------------------

    def writes(self, number, text, message_id=None):
        self.side.citizen_writes(number, text, message_id)
        word = text.strip().lower()
        if word == "start":
            self.subscribed.add(number)
        elif word == "stop":
            self.subscribed.discard(number)

    def answer(self, number, timeout=15):
        """The next answer this number gets, once it has come."""
        seen = self._seen[number]
        answers = wait_for(lambda: (found := self.side.answers_to(number))[seen:] and found,
                           timeout=timeout, message=f"an answer to {number}")
        self._seen[number] += 1
        return answers[seen]

    def answers_waiting(self):
        """Answers queued for the worker to send and not sent yet (none on Twilio)."""
        with self.database() as conn:
            return conn.execute("SELECT count(*) FROM replies").fetchone()[0]

    def no_further_answer(self, number):
        """Nothing more reached this number: every queued answer is out, and none was its."""
        wait_for(lambda: self.answers_waiting() == 0, timeout=15, message="queued answers out")
        assert self.side.answers_to(number)[self._seen[number]:] == []

    def subscribers(self):
        return self.web.api("GET", "/api/stats").json()["subscribers"]

    def audience(self, n):
        """Exactly ``n`` new subscribers, no one else: everyone earlier tests left subscribed
        leaves first, so that a broadcast reaches these alone."""
        for number in sorted(self.subscribed):
            self.writes(number, "Stop")
            self.answer(number)
        people = [new_number() for _ in range(n)]
        for number in people:
            self.writes(number, "Start")
            assert "Willkommen" in self.answer(number)
        assert self.subscribers() == n
        return people

    # -- broadcasts --------------------------------------------------------------------------

    def broadcast(self, words):
        """A broadcast of a text no other test sends: its id and text."""
        text = f"{words} (Meldung {next(self._texts)})"
        response = self.web.api("POST", "/api/broadcasts", json={"text": text})
        assert response.status_code == 202, response.text
        return response.json()["id"], text

    def get(self, broadcast_id):
        return self.web.api("GET", f"/api/broadcasts/{broadcast_id}").json()

    def wait_status(self, broadcast_id, status, timeout=20):
        return wait_for(lambda: (b := self.get(broadcast_id))["status"] == status and b,
                        timeout=timeout, message=f"broadcast {broadcast_id} {status}")

    def wait_counts(self, broadcast_id, timeout=20, **expected):
        def reached():
            found = self.get(broadcast_id)
            return all(found["counts"][key] == n for key, n in expected.items()) and found
        return wait_for(reached, timeout=timeout, message=f"counts {expected}")

    def received(self, text):
        """How often each number got the broadcast with this text."""
        return Counter({number: len(ids)
                        for number, ids in self.side.broadcast_messages(text).items()})

    def error_kinds(self, broadcast_id):
        with self.database() as conn:
            return dict(conn.execute(
                "SELECT error_kind, count(*) FROM deliveries WHERE broadcast_id = ? "
                "AND error_kind IS NOT NULL GROUP BY 1", (broadcast_id,)).fetchall())


def side_for(name, fake_twilio):
    return TwilioSide(fake_twilio) if name == "twilio" else MetaSide()


@pytest.fixture(scope="module", params=["twilio", "meta"])
def deployment(request, fake_twilio):
    """The processes of one platform, started by its first test (with that test's ``env``)."""
    shared = Deployment(side_for(request.param, fake_twilio))
    yield shared
    shared.stop()
    if shared.env is not None:
        # What the shared database came to must hold as every test's own does (conftest).
        assert counts_disagreeing(shared.env["DATABASE_PATH"]) == []
        assert audit_trail_broken(shared.env["DATABASE_PATH"]) is None


@pytest.fixture
def county(deployment, env, twilio_api):
    """The running deployment of the platform under test, its fake reset for this test."""
    deployment.reset()
    if deployment.web is None:
        deployment.start(env)
    yield deployment
    deployment.side.release()


@pytest.fixture(autouse=True)
def bounded():
    """Every test ends within TEST_SECONDS, whatever hangs."""
    with time_bound(TEST_SECONDS):
        yield


# --- conversations -----------------------------------------------------------------------------

def test_start_and_stop_are_answered_and_change_the_subscription(county):
    number = new_number()
    before = county.subscribers()
    county.writes(number, "Start")
    assert "Willkommen" in county.answer(number)
    assert county.subscribers() == before + 1
    county.writes(number, "Stop")
    assert "abgemeldet" in county.answer(number)
    assert county.subscribers() == before
    county.no_further_answer(number)


def test_the_notice_comes_once_within_its_window_and_keywords_still_work(county):
    number = new_number()
    county.writes(number, "Wo ist das Bürgerbüro?")
    notice = county.answer(number)
    assert county.env["CONTACT_INFO"] in notice
    county.writes(number, "Hallo??")
    county.no_further_answer(number)
    county.writes(number, "Hilfe")
    assert "„Start“ = anmelden" in county.answer(number)
    county.no_further_answer(number)


def test_a_message_the_platform_delivers_twice_is_handled_and_answered_once(county):
    number = new_number()
    before = county.subscribers()
    message_id = county.side.new_message_id()
    county.writes(number, "Start", message_id=message_id)
    county.writes(number, "Start", message_id=message_id)
    assert "Willkommen" in county.answer(number)
    county.no_further_answer(number)
    assert county.subscribers() == before + 1


def test_a_tap_on_a_button_is_no_request_and_draws_no_notice(county):
    number = new_number()
    county.side.citizen_taps(number, "Mehr erfahren")
    county.no_further_answer(number)


# --- receipts and refusals ------------------------------------------------------------------

# The order each of five messages' statuses arrive in: each message's in one report after
# the other, then the last two messages' together (on Meta in one POST), interleaved.
ORDERS = [("delivered", "sent"), ("read", "delivered", "sent"), ("sent", "read", "delivered"),
          ("delivered", "read", "sent", "delivered"), ("read", "sent")]


def test_statuses_in_any_order_end_at_the_highest(county):
    people = county.audience(len(ORDERS))
    broadcast_id, text = county.broadcast("Zustellberichte in jeder Reihenfolge")
    county.wait_status(broadcast_id, "done")
    sent = county.side.broadcast_messages(text)
    reports = [[(sent[number][0], number, status, None) for status in order]
               for number, order in zip(people, ORDERS)]
    for one_message in reports[:3]:
        for report in one_message:
            county.side.report_statuses([report])
    county.side.report_statuses([report for pair in itertools.zip_longest(*reports[3:])
                                 for report in pair if report])
    final = county.wait_counts(broadcast_id, read=4, delivered=1)
    assert final["counts"] == {"queued": 0, "sent": 0, "delivered": 1, "read": 4, "failed": 0,
                               "skipped": 0}


def test_a_citizens_refusal_at_send_time_and_in_a_status_follows_the_platforms_rule(county):
    rule = OPT_OUT[county.platform]
    refused_at_send, refused_later, keeps = county.audience(3)
    county.side.refuse(refused_at_send, rule.code)
    broadcast_id, text = county.broadcast("Ein Nein der Bürgerin")
    county.wait_status(broadcast_id, "done")
    (message_id,) = county.side.broadcast_messages(text)[refused_later]
    county.side.report_statuses([(message_id, refused_later, "sent", None)])
    county.side.report_statuses([(message_id, refused_later, "failed", rule.code)])
    final = county.wait_counts(broadcast_id, failed=2, sent=1)
    assert final["errors"] == {str(rule.code): 2}
    assert county.error_kinds(broadcast_id) == {rule.kind: 2}
    assert county.subscribers() == (1 if rule.unsubscribes else 3)
    if rule.unsubscribes:
        county.subscribed -= {refused_at_send, refused_later}
    assert county.received(text) == Counter({refused_later: 1, keeps: 1})


def test_the_messaging_limit_pauses_the_broadcast_and_it_resumes_by_itself(county):
    code = LIMIT[county.platform]
    people = county.audience(4)
    county.side.refuse_next(code)
    broadcast_id, text = county.broadcast("Tageslimit erreicht")
    paused = county.wait_status(broadcast_id, "paused")
    assert paused["pause_reason"] == f"messaging limit ({code})"
    done = county.wait_status(broadcast_id, "done")
    assert done["counts"]["failed"] == 0 and done["errors"] == {}
    assert county.received(text) == Counter({number: 1 for number in people})


def test_the_messaging_limit_reported_in_a_status_pauses_and_sends_the_refused_again(county):
    code = LIMIT[county.platform]
    people = county.audience(4)
    county.side.fail_next(code)
    broadcast_id, text = county.broadcast("Tageslimit im Zustellbericht")
    paused = county.wait_status(broadcast_id, "paused")
    assert paused["pause_reason"] == f"messaging limit ({code})"
    done = county.wait_status(broadcast_id, "done")
    assert done["counts"]["failed"] == 0 and done["errors"] == {}
    received = county.received(text)
    assert set(received) == set(people)
    assert sorted(received.values()) == [1, 1, 1, 2], "the refused one went out again"


# --- the sender ------------------------------------------------------------------------------

def test_a_second_worker_refuses_to_start(county):
    second = Process("worker", county.env)
    try:
        assert second.proc.wait(20) != 0
        assert "a sender is already running" in second.output()
    finally:
        second.stop()
    assert county.worker.proc.poll() is None


def test_a_worker_killed_mid_broadcast_resumes_and_no_one_is_missing(county):
    people = county.audience(12)
    county.side.receipts(["sent", "delivered", "read"])
    before = county.side.accepted()
    county.side.hold(more=4)
    broadcast_id, text = county.broadcast("Evakuierung")
    wait_for(lambda: county.side.accepted() >= before + 4, message="the broadcast under way")
    county.worker.send_signal(signal.SIGKILL)
    county.worker.proc.wait(5)
    county.worker.stop()
    county.side.release()
    county.start_worker()
    done = county.wait_status(broadcast_id, "done", timeout=30)
    received = county.received(text)
    assert set(received) == set(people), "every subscriber got it"
    assert done["counts"]["failed"] == 0
    assert sum(n - 1 for n in received.values()) <= done["retries_unknown"]
    # And the platform's receipts of what the second worker sent, as of the first's, arrive.
    county.wait_counts(broadcast_id, read=len(people))
