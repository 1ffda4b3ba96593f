"""The fake Graph API itself: as strict as Meta, Meta's answers and ids, signed webhooks in
both shapes, re-posted until the app answers 200, and inbound messages as Meta posts them.

Plain HTTP against the fake on loopback, and a small receiver in the test standing in for the
app's webhook."""

import asyncio
import hashlib
import hmac
import json
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from aiohttp import web

from tests.fake_meta import (ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, SINGLE_LINE, TEMPLATE,
                             WABA_ID, FakeMeta)

TEMPLATES = {TEMPLATE: {"language": "de", "parameters": 1},
             "infokanal_paragraphs_3": {"languages": ["de", "en"], "parameters": 3}}
CITIZEN = "4915100000001"
TIMEOUT = 10


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class Receiver:
    """The app's webhook, played by the test: answers a queue of 200s, other statuses,
    "drop" (closes the connection unanswered) or ("slow", seconds), and keeps each body."""

    def __init__(self):
        self.answers = []
        self.posts = []
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="webhook-receiver", daemon=True)
        self._thread.start()
        assert ready.wait(TIMEOUT)

    async def _start(self):
        application = web.Application()
        application.router.add_post("/meta/webhook", self._receive)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/meta/webhook"

    async def _receive(self, request):
        body = await request.read()
        answer = self.answers.pop(0) if self.answers else 200
        self.posts.append({"body": body, "json": json.loads(body), "answer": answer,
                           "headers": dict(request.headers)})
        if answer == "drop":
            request.transport.abort()
            return web.Response(status=500)
        if isinstance(answer, tuple):
            await asyncio.sleep(answer[1])
            answer = 200
        return web.Response(status=answer)

    def statuses(self, answered=None):
        """(id, status) of every status posted (only those answered ``answered`` if given)."""
        return [(status["id"], status["status"])
                for post in self.posts if answered is None or post["answer"] == answered
                for entry in post["json"]["entry"] for change in entry["changes"]
                for status in change["value"].get("statuses", [])]

    def stop(self):
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)
        self._loop.close()


@pytest.fixture(scope="module")
def server():
    fake = FakeMeta(templates=TEMPLATES, retry_seconds=0.05, retry_cap=0.2,
                    webhook_timeout=2.0).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def meta(server, receiver):
    server.reset()
    receiver.answers.clear()
    receiver.posts.clear()
    server.webhook_url = receiver.url
    return server


def send(fake, body, token=ACCESS_TOKEN, version="v23.0", phone_number_id=PHONE_NUMBER_ID,
         timeout=TIMEOUT):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    url = f"{fake.url}/{version}/{phone_number_id}/messages"
    if isinstance(body, (dict, list)):
        return requests.post(url, json=body, headers=headers, timeout=timeout)
    return requests.post(url, data=body, headers={**headers, "Content-Type": "application/json"},
                         timeout=timeout)


def text(to=CITIZEN, body="Hallo"):
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "text", "text": {"body": body}}


def template(*parameters, name=TEMPLATE, code="de", to=CITIZEN):
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "template",
            "template": {"name": name, "language": {"code": code},
                         "components": [{"type": "body", "parameters": [
                             {"type": "text", "text": value} for value in parameters]}]}}


def verify(post):
    """Whether the post carries Meta's signature of its raw body under the app secret."""
    expected = "sha256=" + hmac.new(APP_SECRET.encode(), post["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(post["headers"].get("X-Hub-Signature-256", ""), expected)


# -- sending ---------------------------------------------------------------------------------

def test_accepts_a_text_and_answers_with_a_message_id(meta):
    answers = [send(meta, text()) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    first = answers[0].json()
    assert first["messaging_product"] == "whatsapp"
    assert first["contacts"] == [{"input": CITIZEN, "wa_id": CITIZEN}]
    ids = [answer.json()["messages"][0]["id"] for answer in answers]
    assert all(wamid.startswith("wamid.") for wamid in ids) and len(set(ids)) == 3
    [record, *_] = meta.sent_to(CITIZEN)
    assert (record["id"], record["type"], record["text"]) == (ids[0], "text", "Hallo")
    assert record["json"]["text"] == {"body": "Hallo"} and record["received_at"] > 0
    assert meta.requests == 3 and sum(meta.per_second.values()) == 3


def test_accepts_a_template_and_records_its_parameters(meta):
    # The longest third paragraph the template takes: 1,024 characters as sent with its own 64.
    longest = "x" * (1024 - 64 - len("eins") - len("zwei    vier"))
    answer = send(meta, template("eins", "zwei    vier", longest, name="infokanal_paragraphs_3",
                                 code="en"))
    assert answer.status_code == 200, answer.text
    [record] = meta.sent_to(CITIZEN)
    assert (record["type"], record["template"], record["language"]) == (
        "template", "infokanal_paragraphs_3", "en")
    assert record["parameters"] == ["eins", "zwei    vier", longest]


def test_accepts_pictures_videos_and_documents_by_link(meta):
    for kind in ("image", "video", "document"):
        body = {"messaging_product": "whatsapp", "to": CITIZEN, "type": kind,
                kind: {"link": f"https://infokanal.example.de/media/1.{kind}", "caption": "Bild"}}
        assert send(meta, body).status_code == 200
    assert [(r["type"], r["link"].rsplit(".", 1)[1]) for r in meta.sent_to(CITIZEN)] == [
        ("image", "image"), ("video", "video"), ("document", "document")]


def _without(body, *path):
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def _with(body, value, *path):
    body = json.loads(json.dumps(body))
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


PARAMETERS = ("template", "components", 0, "parameters")
REFUSALS = [
    # (what is wrong, request keywords, HTTP status, Graph code)
    ("version", dict(version="23.0"), 400, 2500),
    ("phone number id", dict(phone_number_id="999"), 400, 100),
    ("no token", dict(token=None), 401, 190),
    ("wrong token", dict(token="forged"), 401, 190),
    ("not JSON", dict(body=b'{"messaging_product": "whatsapp", "to"'), 400, 100),
    ("a list", dict(body=[text()]), 400, 100),
    ("product", dict(body=_with(text(), "sms", "messaging_product")), 400, 100),
    ("to with +", dict(body=text(to="+4915100000001")), 400, 100),
    ("to with letters", dict(body=text(to="whatsapp:49151")), 400, 100),
    ("to too short", dict(body=text(to="49151")), 400, 100),
    ("to a number", dict(body=_with(text(), 4915100000001, "to")), 400, 100),
    ("type", dict(body=_with(text(), "sticker", "type")), 400, 100),
    ("text missing", dict(body=_without(text(), "text")), 400, 100),
    ("text empty", dict(body=text(body="")), 400, 100),
    ("text too long", dict(body=text(body="x" * 4097)), 400, 100),
    ("text not a string", dict(body=_with(text(), 42, "text", "body")), 400, 100),
    ("template unknown", dict(body=template("a", name="nope")), 404, 132001),
    ("language unknown", dict(body=template("a", code="fr")), 404, 132001),
    ("too few parameters", dict(body=template()), 400, 132000),
    ("too many parameters", dict(body=template("a", "b")), 400, 132000),
    ("newline", dict(body=template("Absatz\nzwei")), 400, 100),
    ("carriage return", dict(body=template("Absatz\rzwei")), 400, 100),
    ("tab", dict(body=template("a\tb")), 400, 100),
    ("line separator", dict(body=template("a\u2028b")), 400, 100),
    ("five spaces", dict(body=template("a     b")), 400, 100),
    ("empty parameter", dict(body=template("")), 400, 100),
    ("only spaces", dict(body=template("   ")), 400, 100),
    ("parameter too long", dict(body=template("x" * 1025)), 400, 100),
    ("parameter not text", dict(body=_with(template("a"), [{"type": "currency", "text": "a"}],
                                           *PARAMETERS)), 400, 100),
    ("parameter a number", dict(body=_with(template("a"), [{"type": "text", "text": 5}],
                                           *PARAMETERS)), 400, 100),
    ("picture without link", dict(body={"messaging_product": "whatsapp", "to": CITIZEN,
                                        "type": "image", "image": {"id": "123"}}), 400, 100),
    ("picture by ftp", dict(body={"messaging_product": "whatsapp", "to": CITIZEN,
                                  "type": "image", "image": {"link": "ftp://x/y.jpg"}}), 400, 100),
]


@pytest.mark.parametrize("what, request_keywords, status, code", REFUSALS,
                         ids=[row[0] for row in REFUSALS])
def test_refuses_what_meta_refuses(meta, what, request_keywords, status, code):
    request_keywords = dict(request_keywords)
    body = request_keywords.pop("body", text())
    answer = send(meta, body, **request_keywords)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["type"] == "OAuthException"
    assert error["message"] and error["fbtrace_id"]
    assert meta.messages == [] and meta.refused[-1]["code"] == code


def test_a_template_whose_body_as_sent_is_1024_goes_out_and_one_of_1025_is_refused(meta):
    """The docs' template: 60 characters of its own around the text."""
    assert send(meta, template("x" * (1024 - 60))).status_code == 200
    answer = send(meta, template("x" * (1025 - 60)))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 132005
    assert error["message"] == "(#132005) Template Hydrated Text Too Long"
    assert "1025 characters" in error["error_data"]["details"]
    assert len(meta.messages) == 1 and meta.refused[-1]["code"] == 132005


def test_a_parameter_over_its_own_limit_is_refused_for_it_before_the_body_is_counted(meta):
    assert send(meta, template("x" * 1025)).json()["error"]["code"] == 100


def test_a_paragraph_template_counts_its_separators(meta):
    """Three paragraphs: the county's words and a blank line before, between and after each
    (64 characters of the template's own), in each of its languages."""
    fitting = ["a" * 320, "b" * 320, "c" * (1024 - 64 - 640)]
    for code in ("de", "en"):
        assert send(meta, template(*fitting, name="infokanal_paragraphs_3",
                                   code=code)).status_code == 200
        answer = send(meta, template(*fitting[:2], fitting[2] + "c",
                                     name="infokanal_paragraphs_3", code=code))
        assert answer.json()["error"]["code"] == 132005


def test_a_body_of_its_own_counts_its_own_words(meta):
    body = "Landkreis: {{1}} Stop = abmelden."
    own = len(body) - len("{{1}}")
    answer = requests.post(f"{meta.url}/_fake/config", timeout=TIMEOUT, json={"templates": {
        TEMPLATE: {"language": "de", "parameters": 1, "body": body},
        "zweisprachig": {"languages": ["de", "en"], "parameters": 1,
                         "body": {"en": "County: {{1}} (Stop to leave)"}}}})
    assert answer.status_code == 200, answer.text
    assert send(meta, template("x" * (1024 - own))).status_code == 200
    assert send(meta, template("x" * (1025 - own))).json()["error"]["code"] == 132005
    # A body per language; one not given is the docs'.
    english = len("County:  (Stop to leave)")
    assert send(meta, template("x" * (1024 - english), name="zweisprachig",
                               code="en")).status_code == 200
    assert send(meta, template("x" * (1024 - english), name="zweisprachig",
                               code="de")).json()["error"]["code"] == 132005


def test_a_media_templates_body_is_counted_and_not_its_header(meta):
    requests.post(f"{meta.url}/_fake/config", timeout=TIMEOUT, json={"templates": {
        "bild": {"language": "de", "parameters": 1, "header": "image"}}}).raise_for_status()
    picture = {"type": "header", "parameters": [
        {"type": "image", "image": {"link": "https://infokanal.example.de/media/" + "n" * 200}}]}
    for length, status in ((1024 - 60, 200), (1025 - 60, 400)):
        body = template("x" * length, name="bild")
        body["template"]["components"].insert(0, picture)
        assert send(meta, body).status_code == status


def test_a_poll_templates_body_holds_the_answers_in_fixed_words(meta):
    requests.post(f"{meta.url}/_fake/config", timeout=TIMEOUT, json={"templates": {
        "umfrage_2": {"language": "de", "parameters": 3, "buttons": 2}}}).raise_for_status()
    buttons = [{"type": "button", "sub_type": "quick_reply", "index": index,
                "parameters": [{"type": "payload", "payload": f"poll:1:{index + 1}"}]}
               for index in range(2)]
    own = len("Frage des Landkreises: \n\nAntworten: 1 = , 2 = . Bitte tippen Sie auf die "
              "Nummer Ihrer Antwort.")
    for length, status in ((1024 - own - 6, 200), (1025 - own - 6, 400)):
        body = template("x" * length, "Ja", "Nein", name="umfrage_2")
        body["template"]["components"] += buttons
        assert send(meta, body).status_code == status


@pytest.mark.parametrize("body", ["{{1}} am Anfang", "Am Ende {{1}}", "Zwei: {{1}} {{2}}.",
                                  "Keiner.", 42])
def test_a_body_whatsapp_would_not_approve_is_refused_as_configuration(meta, body):
    answer = requests.post(f"{meta.url}/_fake/config", timeout=TIMEOUT, json={"templates": {
        TEMPLATE: {"language": "de", "parameters": 1, "body": body}}})
    assert answer.status_code == 400 and "templates" in answer.json()["error"]
    with pytest.raises(ValueError):
        FakeMeta(templates={TEMPLATE: {"language": "de", "parameters": 1, "body": body}})


def test_says_why_a_parameter_is_not_single_line(meta):
    error = send(meta, template("Erster Absatz\n\nZweiter")).json()["error"]
    assert error["message"] == "(#100) Invalid parameter"
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": SINGLE_LINE}


def test_an_unknown_path_gets_a_graph_error(meta):
    for answer in (requests.get(meta.messages_url(), timeout=TIMEOUT),
                   requests.post(f"{meta.url}/v23.0/{PHONE_NUMBER_ID}/message", json=text(),
                                 timeout=TIMEOUT)):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == 2500
    assert meta.messages == []


# -- faults ----------------------------------------------------------------------------------

def test_injected_faults_are_answered_in_order(meta):
    meta.error_queue = [[400, 130429], "drop", ["slow", 0.2], [400, 131049]]
    assert send(meta, text()).json()["error"]["code"] == 130429
    with pytest.raises(requests.ConnectionError):
        send(meta, text())
    started = time.monotonic()
    assert send(meta, text()).status_code == 200 and time.monotonic() - started >= 0.2
    assert send(meta, text()).json()["error"]["code"] == 131049
    assert send(meta, text()).status_code == 200
    assert len(meta.messages) == 2


def test_a_hanging_request_is_dropped_at_reset(meta):
    meta.error_queue = ["hang"]
    with pytest.raises(requests.Timeout):
        send(meta, text(), timeout=0.3)
    meta.reset()
    assert send(meta, text()).status_code == 200


def test_seeded_rates_and_recipient_errors(meta):
    meta.rate_130429 = 0.5
    codes = [send(meta, text()).status_code for _ in range(20)]
    meta.reset()
    meta.rate_130429 = 0.5
    assert [send(meta, text()).status_code for _ in range(20)] == codes
    assert 0 < codes.count(400) < 20
    meta.reset()
    meta.recipient_errors = {"4915100000099": [400, 131026]}
    assert send(meta, text(to="4915100000099")).json()["error"]["code"] == 131026
    assert send(meta, text()).status_code == 200


def test_hold_keeps_sends_waiting_until_release(meta):
    meta.hold(1)
    assert send(meta, text()).status_code == 200
    with pytest.raises(requests.Timeout):
        send(meta, text(), timeout=0.3)
    meta.release()
    assert wait_for(lambda: len(meta.messages) == 2)


# -- statuses posted back --------------------------------------------------------------------

def test_statuses_are_signed_and_shaped_as_meta_posts_them(meta, receiver):
    meta.statuses = ["sent", "delivered", "read"]
    wamid = send(meta, template("Warnung")).json()["messages"][0]["id"]
    assert wait_for(lambda: len(receiver.posts) == 3)
    assert all(verify(post) for post in receiver.posts)
    assert receiver.statuses() == [(wamid, "sent"), (wamid, "delivered"), (wamid, "read")]
    body = receiver.posts[0]["json"]
    assert body["object"] == "whatsapp_business_account"
    [entry] = body["entry"]
    assert entry["id"] == WABA_ID
    [change] = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    [sent] = value["statuses"]
    assert sent["recipient_id"] == CITIZEN and sent["timestamp"].isdigit()
    assert sent["pricing"]["billable"] is True and sent["pricing"]["category"] == "utility"
    assert wait_for(lambda: meta.acknowledged.get(wamid) == {"sent", "delivered", "read"})
    assert meta.missing() == {} and meta.missing_ids() == []


def test_statuses_may_come_twice(meta, receiver):
    meta.statuses = ["sent", "read"]
    meta.callback_repeat = 2
    wamid = send(meta, template("a")).json()["messages"][0]["id"]
    assert wait_for(lambda: len(receiver.posts) == 4)
    assert sorted(receiver.statuses()) == [(wamid, "read")] * 2 + [(wamid, "sent")] * 2
    assert wait_for(lambda: meta.acknowledged_counts == {"sent": 1, "read": 1})
    assert meta.missing() == {}


def test_statuses_shuffled_and_delayed(meta, receiver):
    meta.statuses = ["sent", "delivered", "read"]
    meta.callback_shuffle = True
    meta.callback_delay = 0.3
    ids = [send(meta, template("a")).json()["messages"][0]["id"] for _ in range(8)]
    time.sleep(0.1)
    assert receiver.posts == []
    assert wait_for(lambda: len(receiver.posts) == 24)
    orders = [[name for wamid_, name in receiver.statuses() if wamid_ == wamid] for wamid in ids]
    assert all(sorted(order) == ["delivered", "read", "sent"] for order in orders)
    assert any(order != ["sent", "delivered", "read"] for order in orders)


def test_a_status_body_for_a_test_to_post_itself(meta):
    wamid = send(meta, template("a")).json()["messages"][0]["id"]
    body = json.loads(meta.status_body(wamid, "failed", 131050))
    [status] = body["entry"][0]["changes"][0]["value"]["statuses"]
    assert (status["id"], status["status"], status["errors"][0]["code"]) == (
        wamid, "failed", 131050)


def test_a_forged_secret_does_not_verify(meta, receiver):
    meta.statuses = ["sent"]
    send(meta, template("a"))
    assert wait_for(lambda: receiver.posts)
    post = dict(receiver.posts[0], body=receiver.posts[0]["body"] + b" ")
    assert not verify(post)


def test_statuses_batched_several_to_a_post(meta, receiver):
    meta.statuses = ["sent", "delivered", "read"]
    meta.webhook_batch = 6
    meta.webhook_batch_seconds = 0.2
    ids = [send(meta, template("a")).json()["messages"][0]["id"] for _ in range(3)]
    assert wait_for(lambda: len(receiver.statuses()) == 9)
    assert [len(post["json"]["entry"][0]["changes"][0]["value"]["statuses"])
            for post in receiver.posts] == [6, 3]
    assert {wamid for wamid, _ in receiver.statuses()} == set(ids)
    assert wait_for(lambda: meta.acknowledged_counts == {"sent": 3, "delivered": 3, "read": 3})


def test_statuses_spread_over_entries_and_changes(meta, receiver):
    meta.statuses = ["sent", "delivered", "read"]
    meta.webhook_batch = 3
    meta.webhook_entries = 2
    meta.webhook_changes = 2
    send(meta, template("a"))
    assert wait_for(lambda: receiver.posts)
    entries = receiver.posts[0]["json"]["entry"]
    assert [[len(change["value"]["statuses"]) for change in entry["changes"]]
            for entry in entries] == [[1, 1], [1]]
    assert verify(receiver.posts[0])


def test_a_failure_is_sent_then_failed_with_its_code(meta, receiver):
    meta.statuses = ["sent", "delivered", "read"]
    meta.callback_failures = [131049]
    meta.recipient_failures = {"4915100000077": 131026}
    first = send(meta, template("a")).json()["messages"][0]["id"]
    second = send(meta, template("a", to="4915100000077")).json()["messages"][0]["id"]
    third = send(meta, template("a")).json()["messages"][0]["id"]
    assert wait_for(lambda: len(receiver.posts) == 6)
    assert [(wamid, name) for wamid, name in receiver.statuses() if wamid != third] == [
        (first, "sent"), (first, "failed"), (second, "failed")]
    failed = [status for post in receiver.posts
              for status in post["json"]["entry"][0]["changes"][0]["value"]["statuses"]
              if status["status"] == "failed"]
    assert [error["code"] for status in failed for error in status["errors"]] == [131049, 131026]
    assert all(error["title"] for status in failed for error in status["errors"])


def test_a_status_answered_500_is_posted_again_until_200(meta, receiver):
    meta.statuses = ["read"]
    receiver.answers = [500, 503, 200]
    wamid = send(meta, template("a")).json()["messages"][0]["id"]
    assert wait_for(lambda: meta.webhook_posts["answered_200"] == 1)
    assert [post["answer"] for post in receiver.posts] == [500, 503, 200]
    assert receiver.posts[0]["body"] == receiver.posts[2]["body"]
    assert meta.acknowledged == {wamid: {"read"}}
    posts = meta.webhook_posts
    assert (posts["posted"], posts["failed"], posts["retried"], meta.pending) == (3, 2, 2, 0)


def test_a_dropped_or_slow_post_is_posted_again(meta, receiver):
    meta.statuses = ["delivered"]
    meta.webhook_timeout = 0.2
    receiver.answers = ["drop", ("slow", 0.5), 200]
    wamid = send(meta, template("a")).json()["messages"][0]["id"]
    assert wait_for(lambda: meta.webhook_posts["answered_200"] == 1)
    assert meta.webhook_answers["error"] == 1 and meta.webhook_answers["timeout"] == 1
    assert meta.acknowledged == {wamid: {"delivered"}}


def test_a_webhook_never_answered_200_is_given_up(meta, receiver):
    meta.statuses = ["sent"]
    meta.retry_for = 0.3
    receiver.answers = [500] * 50
    send(meta, template("a"))
    assert wait_for(lambda: meta.webhook_posts["given_up"] == 1)
    assert meta.pending == 0 and meta.acknowledged == {}
    assert meta.missing() == {"sent": 1} and len(meta.missing_ids()) == 1


def test_reset_stops_reposting(meta, receiver):
    meta.statuses = ["sent"]
    receiver.answers = [500] * 50
    send(meta, template("a"))
    assert wait_for(lambda: receiver.posts)
    meta.reset()
    posts = len(receiver.posts)
    time.sleep(0.3)
    assert len(receiver.posts) == posts and meta.pending == 0


# -- inbound messages ------------------------------------------------------------------------

def _message(post):
    value = post["json"]["entry"][0]["changes"][0]["value"]
    assert value["contacts"][0]["wa_id"] == value["messages"][0]["from"]
    assert value["contacts"][0]["profile"]["name"]
    return value["messages"][0]


def test_inbound_messages_as_meta_posts_them(meta, receiver):
    assert meta.post_inbound("+" + CITIZEN, "Start") == 200
    assert meta.post_inbound(CITIZEN, "Abmelden", kind="button", replied_to="wamid.A") == 200
    assert meta.post_inbound(CITIZEN, "Ja", kind="interactive", replied_to="wamid.B") == 200
    assert meta.post_inbound(CITIZEN, kind="reaction", replied_to="wamid.C", emoji="👍") == 200
    assert meta.post_inbound(CITIZEN, kind="reaction", replied_to="wamid.C") == 200
    assert meta.post_inbound(CITIZEN, kind="image", message_id="wamid.ours") == 200
    assert all(verify(post) for post in receiver.posts)
    text_, button, interactive, reaction, taken_back, image = map(_message, receiver.posts)
    assert text_["type"] == "text" and text_["text"] == {"body": "Start"}
    assert text_["from"] == CITIZEN and text_["id"].startswith("wamid.")
    assert text_["timestamp"].isdigit()
    assert button["button"]["text"] == "Abmelden" and button["context"]["id"] == "wamid.A"
    assert interactive["interactive"]["type"] == "button_reply"
    assert interactive["interactive"]["button_reply"]["title"] == "Ja"
    assert reaction["reaction"] == {"message_id": "wamid.C", "emoji": "👍"}
    assert taken_back["reaction"] == {"message_id": "wamid.C"}
    assert image["id"] == "wamid.ours" and image["image"]["mime_type"] == "image/jpeg"
    assert [record["kind"] for record in meta.inbound] == [
        "text", "button", "interactive", "reaction", "reaction", "image"]


def test_inbound_is_posted_again_until_200(meta, receiver):
    receiver.answers = [503, "drop", 200]
    assert meta.post_inbound(CITIZEN, "Stop") == 503
    assert wait_for(lambda: meta.inbound_posts["answered_200"] == 1)
    assert meta.inbound[0]["answers"] == [503, "error", 200]
    assert len({post["body"] for post in receiver.posts}) == 1


# -- as its own process ----------------------------------------------------------------------

def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_runs_as_a_process_steered_over_http(receiver):
    receiver.answers.clear()
    receiver.posts.clear()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_meta", "--port", str(port), "--latency", "0",
         "--webhook-url", receiver.url, "--statuses", "sent,delivered,read",
         "--access-token", "other-token"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "fake Meta on" in process.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        config = {"status_batch": 3, "webhook_batch_seconds": 0.05, "templates": TEMPLATES}
        assert requests.post(f"{base}/_fake/config", json=config, timeout=TIMEOUT).ok
        assert requests.post(f"{base}/_fake/config", json={"nonsense": 1},
                             timeout=TIMEOUT).status_code == 400
        fake = type("Address", (), {"url": base})
        assert send(fake, template("Warnung"), token="other-token").status_code == 200
        assert send(fake, template("zwei\nZeilen"), token="other-token").status_code == 400
        answer = requests.post(f"{base}/_fake/inbound", json={"from": CITIZEN, "text": "Start"},
                               timeout=TIMEOUT).json()
        assert answer["status"] == 200 and answer["id"].startswith("wamid.")

        def stats():
            return requests.get(f"{base}/_fake/stats?details=1", timeout=TIMEOUT).json()

        assert wait_for(lambda: stats()["acknowledged"].get("read") == 1)
        figures = stats()
        assert figures["messages"] == 1 and figures["refused"] == {"100": 1}
        assert figures["missing"] == {} and figures["webhooks"] == {"200": 1}
        assert figures["webhook_posts"]["answered_200"] == 1
        assert figures["statuses_posted"] == 3 and figures["webhooks_given_up"] == 0
        assert figures["inbound"]["answered_200"] == 1
        assert figures["message_records"][0]["parameters"] == ["Warnung"]
        sent = requests.get(f"{base}/_fake/sent", params={"to": "49151", "since": 0},
                            timeout=TIMEOUT).json()
        assert sent["messages"] == 1 and sent["last_at"] > 0
        first = requests.post(f"{base}/_fake/first_sent", json={"to": [CITIZEN, "49170"]},
                              timeout=TIMEOUT).json()
        assert first[CITIZEN] == sent["last_at"] and first["49170"] is None
        assert requests.post(f"{base}/_fake/reset", timeout=TIMEOUT).ok
        assert stats()["messages"] == 0
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        process.stdout.close()


# --- the 24-hour window, the pair limit, whose number a webhook is for ---------------------------

def test_free_form_to_a_citizen_who_has_not_written_is_taken_then_fails_131047(meta, receiver):
    meta.statuses = ["sent", "delivered"]
    answer = send(meta, text())
    assert answer.status_code == 200  # Meta takes it, and only then says no
    wamid = answer.json()["messages"][0]["id"]
    assert wait_for(lambda: receiver.statuses() == [(wamid, "failed")])
    [post] = receiver.posts
    [status] = post["json"]["entry"][0]["changes"][0]["value"]["statuses"]
    assert status["errors"][0]["code"] == 131047
    # A template goes out at any time.
    template_id = send(meta, template("Warnung")).json()["messages"][0]["id"]
    assert wait_for(lambda: (template_id, "delivered") in receiver.statuses())


def test_free_form_inside_the_window_goes_out_and_the_window_closes(meta, receiver):
    meta.statuses = ["sent"]
    assert meta.post_inbound(CITIZEN, "Start") == 200
    inside = send(meta, text()).json()["messages"][0]["id"]
    assert wait_for(lambda: (inside, "sent") in receiver.statuses())
    meta.service_window_seconds = 0.2
    time.sleep(0.3)
    outside = send(meta, text(body="Später")).json()["messages"][0]["id"]
    assert wait_for(lambda: (outside, "failed") in receiver.statuses())
    assert (outside, "sent") not in receiver.statuses()


def test_the_pair_limit_refuses_131056_for_that_number_only(meta):
    meta.pair_limit = 2
    meta.pair_limit_seconds = 0.5
    first, second, third = (send(meta, template("a")) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 400)
    assert third.json()["error"]["code"] == 131056
    assert send(meta, template("a", to="4915100000002")).status_code == 200
    time.sleep(0.6)
    assert send(meta, template("a")).status_code == 200


def test_the_pair_limit_is_off_unless_set(meta):
    assert all(send(meta, template("a")).status_code == 200 for _ in range(10))


def test_the_messaging_limit_counts_different_people_reached_outside_their_window(meta,
                                                                                  receiver):
    meta.statuses = ["delivered"]
    meta.messaging_limit = 2
    meta.messaging_limit_seconds = 0.5
    people = ["4915100000101", "4915100000102", "4915100000103", "4915100000104"]

    def outcome(to, body=None):
        answer = send(meta, body or template("Warnung", to=to))
        assert answer.status_code == 200  # Meta takes it, and only then says no
        wamid = answer.json()["messages"][0]["id"]
        assert wait_for(lambda: any(w == wamid for w, _ in receiver.statuses()))
        [name] = [name for w, name in receiver.statuses() if w == wamid]
        return name

    assert [outcome(to) for to in people[:3]] == ["delivered", "delivered", "failed"]
    [failed] = [status for post in receiver.posts
                for status in post["json"]["entry"][0]["changes"][0]["value"]["statuses"]
                if status["status"] == "failed"]
    assert failed["errors"][0]["code"] == 131048
    assert outcome(people[0]) == "delivered"   # reached already: does not count again
    # Inside a citizen's window a template is not business-initiated and is not counted.
    assert meta.post_inbound(people[3], "Start") == 200
    assert outcome(people[3]) == "delivered"
    assert outcome(people[3], text(to=people[3])) == "delivered"
    assert meta.reached_since() == set(people[:2])
    assert [meta.by_id[wamid]["to"] for wamid in meta.limited] == [people[2]]
    assert meta.stats()["limited"] == 1
    time.sleep(0.6)  # the window rolls on
    assert outcome(people[2]) == "delivered"


def test_webhooks_name_the_phone_number_id_they_are_for(meta, receiver):
    meta.statuses = ["sent"]
    send(meta, template("a"))
    assert meta.post_inbound(CITIZEN, "Start") == 200
    assert wait_for(lambda: len(receiver.posts) == 2)
    assert {change["value"]["metadata"]["phone_number_id"] for post in receiver.posts
            for entry in post["json"]["entry"] for change in entry["changes"]} == {
        PHONE_NUMBER_ID}
