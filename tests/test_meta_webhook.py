"""Meta's webhook (``/meta/webhook``): the subscription handshake, signed posts of citizens'
messages and status reports, replies queued for the worker, all or none of a post stored, and
bad input refused with a reason. Requests are signed here the way Meta signs them (HMAC-SHA256
of the raw body under the app secret); the database is a real SQLite file."""

import hashlib
import hmac
import itertools
import json
import sqlite3

import pytest

from bot import create_app, vocabulary
from bot.platforms.meta import opaque_id as seen
from bot.store import counters
from tests.conftest import new_number, rows, scalar

APP_SECRET = "an-app-secret-of-meta-for-tests"
VERIFY_TOKEN = "a-verify-token-of-ours"
COUNTY = "+4930901820"
PATH = "/meta/webhook"
_ids = itertools.count(1)


def meta_settings(config):
    """The test configuration on Meta's platform (the conftest's own database file)."""
    return dict(config, WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN="EAAG-token-for-tests",
                META_PHONE_NUMBER_ID="106540352242922", META_APP_SECRET=APP_SECRET,
                META_VERIFY_TOKEN=VERIFY_TOKEN, META_DISPLAY_PHONE_NUMBER=COUNTY,
                META_API_URL="http://127.0.0.1:9", META_TEMPLATE="infokanal_meldung")


def meta_demo_settings(config):
    """Meta's platform in demo mode: no credentials of either platform (Twilio's alone on
    Meta stop the start)."""
    return dict({name: value for name, value in config.items()
                 if name not in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")},
                WHATSAPP_PLATFORM="meta")


@pytest.fixture
def meta_app(config):
    return create_app(meta_settings(config))


@pytest.fixture
def meta(meta_app):
    return meta_app.test_client()


def wamid():
    """A message id as Meta sends it; stored as ``seen(id)``, never as it comes."""
    return f"wamid.HBgNNDkxNTE{next(_ids):020d}"


def text(number, body, message_id=None):
    return {"from": number.lstrip("+"), "id": message_id or wamid(), "timestamp": "1765000000",
            "type": "text", "text": {"body": body}}


def button(number, label, replied_to="wamid.sent1"):
    return {"from": number.lstrip("+"), "id": wamid(), "timestamp": "1765000000",
            "type": "button", "context": {"from": COUNTY.lstrip("+"), "id": replied_to},
            "button": {"payload": label, "text": label}}


def reaction(number, emoji="👍", to="wamid.sent1"):
    return {"from": number.lstrip("+"), "id": wamid(), "timestamp": "1765000000",
            "type": "reaction", "reaction": {"message_id": to, "emoji": emoji}}


def image(number):
    return {"from": number.lstrip("+"), "id": wamid(), "timestamp": "1765000000",
            "type": "image", "image": {"mime_type": "image/jpeg", "id": "2754859441498128",
                                       "sha256": "81d3bd8a"}}


def status(message_id, word, code=None):
    item = {"id": message_id, "status": word, "timestamp": "1765000001",
            "recipient_id": "4915112345678"}
    if code is not None:
        item["errors"] = [{"code": code, "title": "error"}]
    return item


def metadata(phone_number_id="106540352242922"):
    """Which of the business account's numbers a change is for, as Meta names it in each."""
    return {"display_phone_number": COUNTY.lstrip("+"), "phone_number_id": phone_number_id}


def payload(messages=(), statuses=(), changes=None):
    value = {"messaging_product": "whatsapp", "metadata": metadata()}
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398",
                       "changes": changes or [{"field": "messages", "value": value}]}]}


def signature(body, secret=APP_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(client, data, signed=True, headers=None):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    given = [("Content-Type", "application/json")]
    if signed:
        given.append(("X-Hub-Signature-256", signature(body)))
    given += list(headers or [])
    return client.post(PATH, data=body, headers=given)


def stored(app):
    """What a post may leave behind, counted."""
    return {table: scalar(app, f"SELECT count(*) FROM {table}")
            for table in ("inbound_messages", "subscribers", "replies", "message_status",
                          "notice_throttle", "outbox")}


NOTHING = {"inbound_messages": 0, "subscribers": 0, "replies": 0, "message_status": 0,
           "notice_throttle": 0, "outbox": 0}


def queued(app):
    """The replies queued for the worker: [(number, body)], oldest first."""
    box = app.extensions["infokanal"].vault
    return [(box.decrypt(enc), body)
            for enc, body in rows(app, "SELECT phone_enc, body FROM replies ORDER BY id")]


def counter(app, endpoint, outcome):
    found = rows(app, "SELECT value FROM counters WHERE name = ?",
                 counters.webhook(endpoint, outcome))
    return found[0][0] if found else 0


# --- the subscription handshake ------------------------------------------------------------------

def test_the_handshake_answers_the_challenge_as_plain_text(meta):
    answer = meta.get(PATH, query_string={"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                          "hub.verify_token": VERIFY_TOKEN})
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == "1158201444"
    assert answer.mimetype == "text/plain"


@pytest.mark.parametrize("query", [
    {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "guessed"},
    {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": ""},
    {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
    {"hub.mode": "unsubscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN},
    {}])
def test_the_handshake_refuses_anything_but_our_token(meta, query):
    answer = meta.get(PATH, query_string=query)
    assert answer.status_code == 403
    assert "1158201444" not in answer.get_data(as_text=True)


def test_the_demo_has_no_verify_token_and_refuses_every_handshake(config):
    demo = create_app(meta_demo_settings(config)).test_client()
    for token in ("", "anything"):
        assert demo.get(PATH, query_string={"hub.mode": "subscribe", "hub.challenge": "1",
                                            "hub.verify_token": token}).status_code == 403


# --- signatures ------------------------------------------------------------------------------------

def test_an_unsigned_post_is_401_and_stores_nothing(meta, meta_app):
    answer = post(meta, payload([text(new_number(), "Start")]), signed=False)
    assert answer.status_code == 401
    assert "X-Hub-Signature-256" in answer.get_data(as_text=True)
    assert stored(meta_app) == NOTHING
    assert counter(meta_app, "meta", "forbidden") == 1


@pytest.mark.parametrize("given", [
    "sha256=" + "0" * 64, "sha1=abc", "sha256=", "not a signature",
    signature(json.dumps(payload()).encode(), secret="another-app-secret")])
def test_a_forged_post_is_403_and_stores_nothing(meta, meta_app, given):
    body = json.dumps(payload([text(new_number(), "Start")], [status(wamid(), "read")])).encode()
    answer = meta.post(PATH, data=body, headers=[("Content-Type", "application/json"),
                                                  ("X-Hub-Signature-256", given)])
    assert answer.status_code == 403
    assert stored(meta_app) == NOTHING


def test_a_signature_for_another_body_is_403(meta, meta_app):
    signed = json.dumps(payload([text(new_number(), "Hallo")])).encode()
    sent = json.dumps(payload([text(new_number(), "Start")])).encode()
    answer = meta.post(PATH, data=sent, headers=[("Content-Type", "application/json"),
                                                  ("X-Hub-Signature-256", signature(signed))])
    assert answer.status_code == 403
    assert stored(meta_app) == NOTHING


def test_a_signature_given_twice_is_400(meta, meta_app):
    body = json.dumps(payload([text(new_number(), "Start")])).encode()
    answer = meta.post(PATH, data=body, headers=[
        ("Content-Type", "application/json"), ("X-Hub-Signature-256", signature(body)),
        ("X-Hub-Signature-256", signature(body))])
    assert answer.status_code == 400
    assert "more than once" in answer.get_data(as_text=True)
    assert stored(meta_app) == NOTHING


# --- bad input: a 4xx with its reason or a 200, never a 5xx, nothing stored that should not be ---

DEEP = b'{"object": "whatsapp_business_account", "entry": ' + b"[" * 100_000 + b"]" * 100_000 \
    + b"}"


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "not JSON"),
    (b"object=whatsapp_business_account", "not JSON"),
    (json.dumps(payload([text("+4915112345678", "Start")])).encode()[:-7], "not JSON"),
    (b"\xff\xfe{}", "not JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (json.dumps({"object": "page", "entry": []}).encode(), "object must be"),
    (json.dumps({"object": "whatsapp_business_account", "entry": {}}).encode(), "entry"),
    (DEEP, "nested"),
    (json.dumps(payload([{"from": "4915112345678", "type": "text",
                          "text": {"body": "Start"}}])).encode(), "id"),
    (json.dumps(payload([{"from": "Erika", "id": "wamid.x", "type": "text",
                          "text": {"body": "Start"}}])).encode(), "from"),
    (json.dumps(payload(statuses=[status("wamid.x", "failed", code="§§")])).encode(), "code"),
])
def test_a_body_that_is_not_metas_shape_is_400_with_the_reason(meta, meta_app, body, reason):
    answer = post(meta, body)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert reason in answer.get_data(as_text=True)
    assert stored(meta_app) == NOTHING
    assert counter(meta_app, "meta", "invalid") == 1


def test_ten_megabytes_are_413(meta, meta_app):
    body = b'{"object": "whatsapp_business_account", "entry": [' + b" " * (10 << 20) + b"]}"
    answer = post(meta, body)
    assert answer.status_code == 413
    assert stored(meta_app) == NOTHING


def test_unknown_fields_and_types_are_acknowledged_and_store_nothing_of_theirs(meta, meta_app):
    number = new_number()
    changes = [
        {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}},
        {"field": "messages", "value": {"messaging_product": "whatsapp",
                                        "statuses": [status(wamid(), "deleted")],
                                        "errors": [{"code": 131051}]}},
        {"field": "messages", "value": {"messaging_product": "whatsapp", "messages": [
            {"from": number.lstrip("+"), "id": wamid(), "type": "system",
             "system": {"body": "changed number"}}]}},
    ]
    answer = post(meta, payload(changes=changes))
    assert answer.status_code == 200 and answer.get_data() == b""
    assert stored(meta_app) == NOTHING


def test_a_status_for_an_unknown_message_waits_as_on_twilio(meta, meta_app):
    message_id = wamid()
    assert post(meta, payload(statuses=[status(message_id, "delivered")])).status_code == 200
    assert rows(meta_app, "SELECT sid, status FROM message_status") == [(seen(message_id),
                                                                        "delivered")]
    assert stored(meta_app) == dict(NOTHING, message_status=1)


# --- statuses ----------------------------------------------------------------------------------------

def test_statuses_are_ranked_whatever_order_they_come_in(meta, meta_app):
    first, second = wamid(), wamid()
    assert post(meta, payload(statuses=[status(first, "read"), status(second, "sent")])) \
        .status_code == 200
    # Meta retries and reorders: what comes later but ranks lower changes nothing.
    assert post(meta, payload(statuses=[status(first, "delivered"), status(first, "sent"),
                                        status(second, "delivered")])).status_code == 200
    assert dict(rows(meta_app, "SELECT sid, status FROM message_status")) == {
        seen(first): "read", seen(second): "delivered"}
    assert counter(meta_app, "status", "accepted") == 5


def test_a_failed_status_keeps_metas_code_and_our_kind(meta, meta_app):
    message_id = wamid()
    assert post(meta, payload(statuses=[status(message_id, "failed", code=131026)])) \
        .status_code == 200
    assert rows(meta_app, "SELECT status, error_code, error_kind FROM message_status") == [
        ("failed", "131026", vocabulary.NOT_ON_WHATSAPP)]


# --- citizens: the same handling as on Twilio, the answers queued for the worker ----------------------

def test_start_subscribes_and_queues_the_welcome(meta, meta_app):
    erika = new_number()
    assert post(meta, payload([text(erika, "Start")])).status_code == 200
    assert scalar(meta_app, "SELECT count(*) FROM subscribers") == 1
    [(to, body)] = queued(meta_app)
    assert to == erika and body.startswith("Willkommen beim Infokanal")
    assert scalar(meta_app, "SELECT count(*) FROM outbox") == 0


def test_stop_unsubscribes_and_queues_the_goodbye(meta, meta_app):
    erika = new_number()
    post(meta, payload([text(erika, "Start")]))
    assert post(meta, payload([text(erika, "Stop")])).status_code == 200
    assert scalar(meta_app, "SELECT count(*) FROM subscribers") == 0
    assert [body.split(" ")[:3] for _, body in queued(meta_app)][-1] == ["Sie", "sind",
                                                                         "abgemeldet"]


def test_a_personal_message_gets_the_notice_once_per_window(meta, meta_app):
    erika = new_number()
    post(meta, payload([text(erika, "Wann hat das Bürgerbüro offen?")]))
    post(meta, payload([text(erika, "Hallo?")]))
    post(meta, payload([image(erika)]))
    notices = [body for _, body in queued(meta_app)]
    assert len(notices) == 1 and notices[0].startswith("Dieser Kanal beantwortet keine")


def test_a_picture_gets_the_notice_as_a_text_would(meta, meta_app):
    post(meta, payload([image(new_number())]))
    [(_, body)] = queued(meta_app)
    assert body.startswith("Dieser Kanal beantwortet keine")


def test_a_reaction_is_never_answered_and_never_draws_the_notice(meta, meta_app):
    erika = new_number()
    post(meta, payload([reaction(erika), reaction(erika, emoji="")]))
    assert queued(meta_app) == []
    assert stored(meta_app) == dict(NOTHING, inbound_messages=2)


def test_a_button_with_a_keyword_is_that_keyword_and_any_other_is_no_request(meta, meta_app):
    erika = new_number()
    post(meta, payload([button(erika, "Ja, gerne"), button(erika, "Mehr erfahren")]))
    assert queued(meta_app) == []
    assert scalar(meta_app, "SELECT count(*) FROM notice_throttle") == 0
    post(meta, payload([button(erika, "Start")]))
    [(to, body)] = queued(meta_app)
    assert to == erika and body.startswith("Willkommen")
    post(meta, payload([button(erika, "Stop")]))
    assert scalar(meta_app, "SELECT count(*) FROM subscribers") == 0


def test_a_repeated_post_is_handled_once(meta, meta_app):
    data = payload([text(new_number(), "Start"), text(new_number(), "Hallo")])
    for _ in range(3):
        assert post(meta, data).status_code == 200
    assert len(queued(meta_app)) == 2
    assert counter(meta_app, "messages", "duplicate") == 4


def test_one_post_with_many_citizens_and_statuses(meta, meta_app):
    erika, max_ = new_number(), new_number()
    sent = wamid()
    changes = [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata(),
                                        "messages": [text(erika, "Start")],
                                        "statuses": [status(sent, "delivered")]}},
        {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata(),
                                        "messages": [text(max_, "Start"), reaction(erika)],
                                        "statuses": [status(sent, "read")]}},
    ]
    assert post(meta, payload(changes=changes)).status_code == 200
    assert sorted(to for to, _ in queued(meta_app)) == sorted([erika, max_])
    assert rows(meta_app, "SELECT status FROM message_status") == [("read",)]


def test_changes_for_another_number_of_the_business_account_are_left_out(meta, meta_app):
    # An app gets the webhooks of every number of its business account: a "Start" written to
    # another of them (another office's) neither subscribes here nor is answered, and its
    # statuses are not ours; the change for our number in the same post is.
    erika, max_ = new_number(), new_number()
    theirs, ours = wamid(), wamid()
    other = {"messaging_product": "whatsapp", "metadata": metadata("106540352242999"),
             "messages": [text(erika, "Start")], "statuses": [status(theirs, "read")]}
    unnamed = {"messaging_product": "whatsapp", "messages": [text(erika, "Start")]}
    mine = {"messaging_product": "whatsapp", "metadata": metadata(),
            "messages": [text(max_, "Start")], "statuses": [status(ours, "delivered")]}
    changes = [{"field": "messages", "value": value} for value in (other, unnamed, mine)]
    assert post(meta, payload(changes=changes)).status_code == 200
    assert [to for to, _ in queued(meta_app)] == [max_]
    assert scalar(meta_app, "SELECT count(*) FROM subscribers") == 1
    assert rows(meta_app, "SELECT sid FROM message_status") == [(seen(ours),)]


def test_the_fast_path_leaves_out_statuses_for_another_number_too(server):
    theirs, ours = wamid(), wamid()
    changes = [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": metadata(number),
        "statuses": [status(message_id, "read")]}}
        for number, message_id in (("106540352242999", theirs), ("106540352242922", ours))]
    answer = post_to(server, payload(changes=changes))
    assert (answer.status_code, answer.content) == (200, b"")
    assert served(server, "SELECT sid FROM message_status WHERE sid IN (?, ?)", seen(theirs),
                  seen(ours)) == [(seen(ours),)]


UNHANDLEABLE = {
    # Mexico's numbers as WhatsApp gives them ("521" + ten digits): not a possible number for
    # our phone library.
    "a Mexican wa_id": lambda: text("+5215512345678", "Start"),
    "no phone number": lambda: dict(text(new_number(), "Start"), **{"from": "000000"}),
    "a lone surrogate": lambda: text(new_number(), "Start\ud800"),
}


@pytest.mark.parametrize("bad", UNHANDLEABLE.values(), ids=UNHANDLEABLE.keys())
def test_a_message_that_cannot_be_handled_is_skipped_and_the_rest_of_the_post_stored(
        meta, meta_app, bad, caplog):
    """Meta posts a refused request again, whole, for days: one message must not hold back
    the others and the statuses with them."""
    erika, sent = new_number(), wamid()
    data = payload([text(erika, "Start"), bad(), text(new_number(), "Hallo")],
                   [status(sent, "read")])
    for _ in range(2):
        answer = post(meta, data)
        assert (answer.status_code, answer.get_data()) == (200, b"")
    assert [to for to, _ in queued(meta_app)][0] == erika and len(queued(meta_app)) == 2
    assert rows(meta_app, "SELECT status FROM message_status") == [("read",)]
    assert stored(meta_app)["inbound_messages"] == 2
    assert counter(meta_app, "messages", "invalid") == 2  # once per post
    assert counter(meta_app, "meta", "invalid") == 0
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2
    assert not any(erika in line or "5215512345678" in line for line in caplog.messages)


def test_all_or_none_a_message_that_cannot_be_stored_leaves_nothing_of_the_post(config):
    app = create_app(dict(meta_settings(config), PROPAGATE_EXCEPTIONS=False))
    # The database itself refuses to store the answer to the post's second message (a trigger
    # in this test's own file): the first is handled by then, its status recorded.
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        conn.execute("CREATE TRIGGER refuse_one BEFORE INSERT ON replies "
                     "WHEN (SELECT count(*) FROM replies) >= 1 "
                     "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
    data = payload([text(new_number(), "Start"), text(new_number(), "Start")],
                   [status(wamid(), "read")])
    try:
        answer = post(app.test_client(), data)
        # Not acknowledged: Meta sends the whole post again.
        assert answer.status_code == 500
        assert stored(app) == NOTHING
        assert scalar(app, "SELECT count(*) FROM counters WHERE name LIKE 'webhook_%'") == 0
    finally:
        with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
            conn.execute("DROP TRIGGER refuse_one")
    # Once the database takes it, the same post is stored whole.
    assert post(app.test_client(), data).status_code == 200
    assert stored(app)["subscribers"] == 2 and stored(app)["message_status"] == 1


# --- demo mode and the public page ------------------------------------------------------------------

def test_the_demo_takes_unsigned_posts_and_answers_into_the_outbox(config):
    demo = create_app(meta_demo_settings(config))
    assert post(demo.test_client(), payload([text(new_number(), "Start")]), signed=False) \
        .status_code == 200
    assert scalar(demo, "SELECT count(*) FROM replies") == 0
    assert scalar(demo, "SELECT count(*) FROM outbox WHERE kind = 'reply'") == 1


def test_the_public_page_links_to_the_display_number_on_meta(meta):
    page = meta.get("/").get_data(as_text=True)
    assert f"https://wa.me/{COUNTY.lstrip('+')}?text=Start" in page


def test_twilio_keeps_answering_with_twiml_and_queues_nothing(app, citizen):
    from tests.conftest import reply_text

    assert reply_text(citizen().send("Start").text).startswith("Willkommen")
    assert scalar(app, "SELECT count(*) FROM replies") == 0


# --- through the real front (gunicorn from the Procfile) -------------------------------------------

@pytest.fixture(scope="module", params=["short path", "ASGI path"])
def server(request, tmp_path_factory):
    """The web server; its connections take Meta's posts themselves (the short path), or hand
    them to the front through gunicorn's ASGI call (STATUS_SHORT_PATH=0): both answer alike."""
    from bot.vault import new_key
    from tests.conftest import ADMIN_TOKEN, PROCESS_AUTHORITY, WebServer

    workdir = tmp_path_factory.mktemp("meta-front")
    env = meta_settings({"ADMIN_TOKEN": ADMIN_TOKEN, "DATA_KEY": new_key(),
                         "DATABASE_PATH": str(workdir / "infokanal.db"),
                         "AUTHORITY_NAME": PROCESS_AUTHORITY,
                         "CONTACT_INFO": "Bürgertelefon 01234 5678", "WEB_CONCURRENCY": "1",
                         "STATUS_SHORT_PATH": "1" if request.param == "short path" else "0"})
    web = WebServer(env)
    web.config = env
    yield web
    web.stop()


def served(server, sql, *params):
    with sqlite3.connect(server.config["DATABASE_PATH"]) as conn:
        return conn.execute(sql, params).fetchall()


def post_to(server, data, headers=None, signed=True):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    given = {"Content-Type": "application/json"}
    if signed:
        given["X-Hub-Signature-256"] = signature(body)
    given.update(headers or {})
    # A connection of its own, as Meta's posts may come: on one that served another request
    # gunicorn's way, the rest go that way too.
    import requests

    return requests.post(server.url + PATH, data=body, headers=given, timeout=10)


def test_the_front_commits_a_post_of_statuses_itself_all_in_one(server):
    ids = [wamid() for _ in range(5)]
    answer = post_to(server, payload(statuses=[status(i, "delivered") for i in ids]))
    assert (answer.status_code, answer.content) == (200, b"")
    placeholders = ",".join("?" * len(ids))
    assert served(server, f"SELECT count(*) FROM message_status WHERE sid IN ({placeholders}) "
                          f"AND status = 'delivered'", *map(seen, ids)) == [(5,)]


def test_a_post_of_statuses_whose_write_fails_is_503_and_stores_none_of_it(server):
    """The StatusWriter's answer (Flask's would be a 500): the post went the fast way, and its
    statuses were one commit, so none of them is kept when one cannot be."""
    good, bad = wamid(), wamid()
    with sqlite3.connect(server.config["DATABASE_PATH"]) as conn:
        conn.execute(f"CREATE TRIGGER refuse_status BEFORE INSERT ON message_status "
                     f"WHEN NEW.sid = '{seen(bad)}' BEGIN SELECT RAISE(ABORT, 'refused'); END")
    try:
        answer = post_to(server, payload(statuses=[status(good, "read"), status(bad, "read")]))
        assert answer.status_code == 503 and b"not stored" in answer.content
        assert served(server, "SELECT count(*) FROM message_status WHERE sid = ?", seen(good)) \
            == [(0,)]
    finally:
        with sqlite3.connect(server.config["DATABASE_PATH"]) as conn:
            conn.execute("DROP TRIGGER refuse_status")
    assert post_to(server, payload(statuses=[status(good, "read"), status(bad, "read")])) \
        .status_code == 200


def test_the_front_hands_a_post_with_messages_to_flask(server):
    erika = new_number()
    sent = wamid()
    answer = post_to(server, payload([text(erika, "Start")], [status(sent, "sent")]))
    assert (answer.status_code, answer.content) == (200, b"")
    assert served(server, "SELECT count(*) FROM replies") >= [(1,)]
    assert served(server, "SELECT status FROM message_status WHERE sid = ?", seen(sent)) \
        == [("sent",)]


def test_the_front_skips_what_it_cannot_store_and_keeps_the_rest(server):
    sent = wamid()
    data = payload([text("+5215512345678", "Start"), text(new_number(), "Start\ud800"),
                    text(new_number(), "Start")], [status(sent, "delivered")])
    answer = post_to(server, data)
    assert (answer.status_code, answer.content) == (200, b"")
    assert served(server, "SELECT status FROM message_status WHERE sid = ?", seen(sent)) \
        == [("delivered",)]


def test_the_front_refuses_forged_and_malformed_posts_with_the_flask_answers(server):
    data = payload(statuses=[status(wamid(), "read")])
    body = json.dumps(data).encode()
    assert post_to(server, body, {"X-Hub-Signature-256": "sha256=" + "0" * 64},
                   signed=False).status_code == 403
    assert post_to(server, body, signed=False).status_code == 401
    truncated = post_to(server, body[:-5])
    assert truncated.status_code == 400 and b"not JSON" in truncated.content
    nested = post_to(server, DEEP)
    assert nested.status_code == 400 and b"nested" in nested.content


def test_the_handshake_through_the_front(server):
    answer = server.session.get(server.url + PATH, timeout=10, params={
        "hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": VERIFY_TOKEN})
    assert (answer.status_code, answer.text) == (200, "42")


@pytest.mark.parametrize(("fields", "expected"), [
    ([f"X-Hub-Signature-256: sha256={'0' * 64}"], 413),
    ([], 401),
    ([f"X-Hub-Signature-256: sha256={'0' * 64}"] * 2, 400)])
def test_the_front_answers_before_reading_a_body(server, fields, expected):
    """10 MB announced: only the headers go out, and the answer comes without the body."""
    import socket

    from tests.test_status_short_path import read_answer

    lines = [f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {10 << 20}", *fields]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sock.settimeout(5)
        answer_status, headers, _ = read_answer(sock.makefile("rb"))
    assert answer_status == expected
    assert headers["connection"] == "close"


def test_the_status_writer_commits_each_request_whole(meta_app):
    """A request's statuses are one commit's or none's, even past the batch size; the writes
    are the real ones, only counted on their way."""
    import asyncio

    from bot.platforms.base import StatusUpdate
    from bot.web.status_writer import StatusWriter

    writer = StatusWriter(meta_app.config["DATABASE_PATH"], interval=0.01, max_batch=3)
    commits = []
    write = writer._write

    def counted(updates):
        commits.append(len(updates))
        return write(updates)

    writer._write = counted
    groups = [[StatusUpdate(wamid(), vocabulary.SENT, vocabulary.RANK[vocabulary.SENT])
               for _ in range(size)] for size in (2, 2, 2, 5, 1)]

    async def run():
        writer.start()
        await asyncio.gather(*(writer.submit_group(group) for group in groups))
        await writer.stop()

    asyncio.run(run())
    assert commits == [2, 2, 2, 5, 1]
    assert scalar(meta_app, "SELECT count(*) FROM message_status") == 12


def test_on_meta_twilios_webhooks_take_nothing_signed_with_an_empty_token(config):
    """Meta's deployment has no Twilio auth token: a signature made with the empty one must
    not let anyone subscribe a number through Twilio's webhook, or move a receipt."""
    from tests.conftest import Citizen

    app = create_app(dict(meta_settings(config), TWILIO_AUTH_TOKEN=""))
    client = app.test_client()

    def send(path, params, headers):
        return client.post(path, data=params, headers=headers)

    forger = Citizen(send, auth_token="")
    # Not routes at all on Meta (tests/test_webhook.py).
    assert forger.send("Start").status_code == 404
    callback = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "read"}
    assert forger.post_signed("/twilio/status", callback).status_code == 404
    assert stored(app) == NOTHING


def test_a_batch_far_larger_than_any_other_request_is_taken_whole(meta, meta_app, server):
    """Meta's posts may be up to 3 MB: far above what any other request here may be."""
    ids = [wamid() for _ in range(1000)]
    data = payload(statuses=[dict(status(i, word), pricing={"billable": True,
                                                            "category": "utility"},
                                  conversation={"id": "a75d17ad06104c51166f948319b03c6a"})
                             for i in ids for word in ("sent", "delivered", "read")])
    assert len(json.dumps(data)) > 700_000
    assert post(meta, data).status_code == 200
    assert scalar(meta_app, "SELECT count(*) FROM message_status WHERE status = 'read'") == 1000
    assert post_to(server, data).status_code == 200
    assert served(server, "SELECT count(*) FROM message_status WHERE sid = ?", seen(ids[-1])) \
        == [(1,)]


def test_posts_one_after_another_on_a_kept_alive_connection(server):
    """A post with a message (Flask's) and then one of statuses (the writer's) on the same
    connection: each answered in turn, the connection kept."""
    import socket

    from tests.test_status_short_path import read_answer

    erika, sent = new_number(), wamid()
    posts = [payload([text(erika, "Hallo")]), payload(statuses=[status(sent, "read")]),
             payload([text(erika, "Start")])]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for data in posts:
            body = json.dumps(data).encode()
            sock.sendall((f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Content-Type: application/json\r\n"
                          f"X-Hub-Signature-256: {signature(body)}\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            answer_status, headers, content = read_answer(reader)
            assert (answer_status, content) == (200, b"")
            assert headers.get("connection") != "close"
    assert served(server, "SELECT status FROM message_status WHERE sid = ?", seen(sent)) \
        == [("read",)]
    box_rows = served(server, "SELECT body FROM replies ORDER BY id DESC LIMIT 2")
    assert [body.split(" ")[0] for (body,) in box_rows] == ["Willkommen", "Dieser"]


def test_on_twilio_metas_webhook_takes_nothing_signed_with_an_empty_secret(app, client):
    body = json.dumps(payload([text(new_number(), "Start")])).encode()
    answer = client.post(PATH, data=body, headers=[
        ("Content-Type", "application/json"), ("X-Hub-Signature-256", signature(body, ""))])
    assert answer.status_code == 404  # not a route on Twilio (tests/test_webhook.py)
    assert stored(app) == NOTHING


def test_a_method_the_webhook_does_not_take_is_answered_as_data_not_a_page(meta):
    answer = meta.put(PATH, data=b"{}")
    assert answer.status_code == 405
    assert answer.mimetype != "text/html"
