"""Meta's Cloud API module (bot.platforms.meta): signatures, the subscription handshake, webhook
bodies as Meta posts them (and as nobody should), error codes, and the transport against a
small strict Graph API on loopback."""

import copy
import hashlib
import hmac
import json
import random

import pytest

from bot import vocabulary as v
from bot.platforms import base, meta

SECRET = "app-secret-for-tests"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
OURS = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA"


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def envelope(value, field="messages"):
    return {"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "changes": [{"field": field, "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4930901820", "phone_number_id": "1234567890"},
            **value}}]}]}


def inbound(kind, content, **extra):
    return {"from": "4915112345678", "id": WAMID, "timestamp": "1749416383", "type": kind,
            kind: content, **extra}


def body_of(data):
    return json.dumps(data).encode()


def status(word, message_id=OURS, **extra):
    return {"id": message_id, "status": word, "timestamp": "1749416383",
            "recipient_id": "4915112345678", **extra}


# --- signatures and the handshake -----------------------------------------------------------

def test_a_signature_of_the_raw_body_under_the_app_secret_is_accepted():
    body = body_of(envelope({"statuses": [status("sent")]}))
    assert meta.verify(SECRET, body, sign(body))


@pytest.mark.parametrize("signature", [
    "", None, "sha256=", "sha1=abc", "sha256=" + "0" * 64, "sha256=zz", "sha256=ä" * 3,
    "sha256=\x00", sign(b"another body"), sign(b"{}", "another secret")])
def test_a_missing_forged_or_malformed_signature_is_refused(signature):
    assert not meta.verify(SECRET, b"{}", signature)


def test_no_signature_verifies_without_an_app_secret():
    assert not meta.verify("", b"{}", sign(b"{}", ""))


def test_the_signature_is_the_body_as_it_came_not_as_json_reads_it():
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    assert not meta.verify(SECRET, body, sign(body.replace(b": ", b":")))


def test_the_signature_header_given_twice_is_refused():
    with pytest.raises(base.InvalidWebhook, match="more than once"):
        meta.signature_of({meta.SIGNATURE_HEADER: "sha256=ab,sha256=cd"})
    assert meta.signature_of({}) == ""


def test_the_handshake_answers_the_challenge_for_our_token_only():
    assert meta.handshake("subscribe", "our-token", "1158201444", "our-token") == "1158201444"
    assert meta.handshake("subscribe", "other", "1158201444", "our-token") is None
    assert meta.handshake("unsubscribe", "our-token", "1158201444", "our-token") is None
    assert meta.handshake("subscribe", None, "1158201444", "our-token") is None
    assert meta.handshake("subscribe", "", "1158201444", "") is None  # none configured
    assert meta.handshake("subscribe", "our-token", None, "our-token") is None
    assert meta.handshake("subscribe", "our-token", "<script>", "our-token") is None
    assert meta.handshake("subscribe", "öür", "1", "our-token") is None


def test_the_handshake_reads_metas_query_parameters():
    args = {"hub.mode": "subscribe", "hub.verify_token": "t", "hub.challenge": "42"}
    assert meta.handshake_of(args, "t") == "42"
    assert meta.handshake_of({}, "t") is None


# --- webhook bodies ---------------------------------------------------------------------------

def parse(data):
    return meta.parse(body_of(data))


def only_message(data):
    events = parse(data)
    assert events.statuses == []
    [message] = events.messages
    return message


def test_a_text_message_is_the_citizens_text():
    message = only_message(envelope({
        "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "4915112345678"}],
        "messages": [inbound("text", {"body": "Start"})]}))
    assert message == base.InboundMessage(WAMID, "+4915112345678", "Start")
    assert message.kind == v.INBOUND_TEXT


def test_a_template_button_tap_is_a_button_reply_about_our_message():
    message = only_message(envelope({"messages": [inbound(
        "button", {"payload": "Stop", "text": "Abmelden"},
        context={"from": "4930901820", "id": OURS})]}))
    assert (message.kind, message.body, message.replied_to) == (v.INBOUND_BUTTON, "Abmelden", OURS)


@pytest.mark.parametrize("reply_type", ["button_reply", "list_reply"])
def test_an_interactive_reply_is_a_button_reply_with_its_title(reply_type):
    message = only_message(envelope({"messages": [inbound(
        "interactive", {"type": reply_type, reply_type: {"id": "x", "title": "Ja"}},
        context={"from": "4930901820", "id": OURS})]}))
    assert (message.kind, message.body, message.replied_to) == (v.INBOUND_BUTTON, "Ja", OURS)


def test_a_reaction_names_the_message_it_is_about_and_taking_it_back_has_no_emoji():
    given = only_message(envelope({"messages": [
        inbound("reaction", {"message_id": OURS, "emoji": "👍"})]}))
    taken_back = only_message(envelope({"messages": [
        inbound("reaction", {"message_id": OURS})]}))
    assert (given.kind, given.body, given.replied_to) == (v.INBOUND_REACTION, "👍", OURS)
    assert (taken_back.kind, taken_back.body) == (v.INBOUND_REACTION, "")


@pytest.mark.parametrize("kind,content", [
    ("image", {"id": "1479537139650973", "mime_type": "image/jpeg", "caption": "Hochwasser"}),
    ("audio", {"id": "1003383421387256", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
    ("sticker", {"id": "1", "mime_type": "image/webp", "animated": False}),
    ("location", {"latitude": 53.2, "longitude": 8.8}),
    ("unsupported", None), ("a_type_from_next_year", {"anything": [1, 2]})])
def test_any_other_message_type_is_kind_other(kind, content):
    message = only_message(envelope({"messages": [inbound(kind, content)]}))
    assert (message.kind, message.sender, message.media) == (v.INBOUND_OTHER, "+4915112345678", [])
    assert message.body == ("Hochwasser" if kind == "image" else "")


def test_a_system_message_is_no_citizen_writing():
    events = parse(envelope({"messages": [inbound("system", {"body": "changed number"})]}))
    assert events.messages == []


def test_statuses_are_ranked_and_a_failure_carries_its_code_and_kind():
    events = parse(envelope({"statuses": [
        status("sent", pricing={"billable": True, "category": "utility"}),
        status("delivered"), status("read"),
        status("failed", errors=[{"code": 131049, "title": "not delivered"}]),
        status("failed", errors=[{"code": "131050"}]), status("failed"),
        status("deleted"), status("warning"), status(None)]}))
    assert events.messages == []
    assert [(s.status, s.rank, s.error_code, s.error_kind) for s in events.statuses] == [
        (v.SENT, v.RANK[v.SENT], None, None), (v.DELIVERED, v.RANK[v.DELIVERED], None, None),
        (v.READ, v.RANK[v.READ], None, None),
        (v.FAILED, v.RANK[v.FAILED], "131049", v.CITIZEN_CAP),
        (v.FAILED, v.RANK[v.FAILED], "131050", v.MARKETING_DECLINED),
        (v.FAILED, v.RANK[v.FAILED], None, None)]
    assert {s.message_id for s in events.statuses} == {OURS}


def test_one_post_may_carry_many_entries_changes_messages_and_statuses():
    data = envelope({"messages": [inbound("text", {"body": "Start"})],
                     "statuses": [status("read")]})
    data["entry"].append(copy.deepcopy(data["entry"][0]))
    data["entry"][0]["changes"].append({"field": "messages", "value": {
        "statuses": [status("delivered", "wamid.other")]}})
    events = parse(data)
    assert len(events.messages) == 2
    assert [s.message_id for s in events.statuses] == [OURS, "wamid.other", OURS]


def test_changes_of_other_fields_are_ignored_whatever_they_hold():
    data = envelope({"messages": "not even a list"}, field="message_template_status_update")
    data["entry"][0]["changes"].append({"field": "account_update", "value": 7})
    assert parse(data) == base.Events()


def test_an_empty_batch_is_nothing_to_do():
    assert parse({"object": "whatsapp_business_account", "entry": []}) == base.Events()
    assert parse({"object": "whatsapp_business_account", "entry": [{"id": "1"}]}) == base.Events()


@pytest.mark.parametrize("body,reason", [
    (b"", "not JSON"), (b"{", "not JSON"), (b"\xff\xfe{}", "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"[]", "not a JSON object"), (b'"text"', "not a JSON object"), (b"null", "not a JSON object"),
    (b"{}", "object must be"), (b'{"object": "page", "entry": []}', "object must be"),
    (b'{"object": "whatsapp_business_account"}', "entry is not a list"),
    (b'{"object": "whatsapp_business_account", "entry": {}}', "entry is not a list"),
    (b'{"object": "whatsapp_business_account", "entry": [1]}', "entry[0] is not an object"),
    (b'{"object": "whatsapp_business_account", "entry": [{"changes": [null]}]}',
     "changes[0] is not an object"),
    (b'{"object": "whatsapp_business_account", "entry": [{"changes": '
     b'[{"field": "messages", "value": []}]}]}', "value is not an object"),
    (b'{"object": "whatsapp_business_account", "entry": [{"changes": '
     b'[{"field": "messages", "value": {"statuses": {}}}]}]}', "statuses is not a list"),
    (b'{"object": "whatsapp_business_account", "entry": [{"changes": '
     b'[{"field": "messages", "value": {"messages": [1e999]}}]}]}', "is not an object"),
    (b'{"object": "whatsapp_business_account", "entry": [{"changes": '
     b'[{"field": "messages", "value": {"messages": [{"from": 1' + b"0" * 5000 + b'}]}}]}]}',
     "not JSON"),
])
def test_a_body_that_is_not_metas_shape_is_refused_with_a_reason(body, reason):
    with pytest.raises(base.InvalidWebhook, match=reason.replace("[", r"\[").replace("]", r"\]")):
        meta.parse(body)


@pytest.mark.parametrize("message,reason", [
    (inbound("text", {"body": "Start"}, id=None), "id is missing"),
    (inbound("text", {"body": "Start"}, id=""), "id is missing"),
    (inbound("text", {"body": "Start"}, id="wamid.<script>"), "id is missing or malformed"),
    (inbound("text", {"body": "Start"}, id="w" * 257), "id is missing or malformed"),
    (inbound("text", {"body": "Start"}, id=["wamid.x"]), "id is missing or malformed"),
    (inbound("text", {"body": "Start"}, **{"from": "+4915112345678"}), "from must be"),
    (inbound("text", {"body": "Start"}, **{"from": "49151abc"}), "from must be"),
    (inbound("text", {"body": "Start"}, **{"from": 4915112345678}), "from must be"),
    (inbound("text", {"body": "Start"}, **{"from": "1" * 16}), "from must be"),
    (inbound("text", {"body": "Start"}, **{"from": "٤٩١٥١١٢٣٤٥٦"}), "from must be"),
    (inbound("text", "Start"), "text is not an object"),
    (inbound("text", {"body": 7}), "text.body is not a string"),
    (inbound("text", {}), "text.body is not a string"),
    (inbound("button", {"text": ["x"]}), "button.text is not a string"),
    (inbound("reaction", {"emoji": "👍"}), "reaction.message_id is missing"),
    (inbound("reaction", {"message_id": OURS, "emoji": 1}), "reaction.emoji is not a string"),
    (inbound("button", {"text": "x"}, context="wamid.x"), "context is not an object"),
    (inbound("button", {"text": "x"}, context={"id": "a b"}), "context.id is missing"),
    (inbound("interactive", {"type": "button_reply", "button_reply": "Ja"}), "is not an object"),
    (inbound("text", {"body": "Start"}, type=None), "type is not a string"),
])
def test_a_message_with_wrong_types_or_a_malformed_id_or_sender_is_refused(message, reason):
    with pytest.raises(base.InvalidWebhook, match=reason):
        parse(envelope({"messages": [message]}))


@pytest.mark.parametrize("entry,reason", [
    (status("read", message_id="wamid.x y"), "id is missing or malformed"),
    (status("read", message_id=None), "id is missing or malformed"),
    (status("failed", errors={"code": 1}), "errors is not a list"),
    (status("failed", errors=[[131049]]), "errors\\[0\\] is not an object"),
    (status("failed", errors=[{"code": "131049; drop"}]), "code is not a number"),
    (status("failed", errors=[{"code": 1.5}]), "code is not a number"),
    (status("failed", errors=[{"code": True}]), "code is not a number"),
])
def test_a_status_with_wrong_types_or_a_malformed_id_is_refused(entry, reason):
    with pytest.raises(base.InvalidWebhook, match=reason):
        parse(envelope({"statuses": [entry]}))


def test_more_messages_and_statuses_than_a_webhook_ever_carries_are_refused():
    at_most = envelope({"statuses": [status("read")] * meta.MAX_EVENTS})
    assert len(parse(at_most).statuses) == meta.MAX_EVENTS
    spread = envelope({"statuses": [status("read")] * (meta.MAX_EVENTS // 2)})
    spread["entry"] *= 2
    spread["entry"][1]["changes"][0]["value"]["messages"] = [inbound("text", {"body": "x"})]
    with pytest.raises(base.InvalidWebhook, match="more than"):
        parse(spread)
    changes = {"object": "whatsapp_business_account", "entry": [
        {"changes": [{"field": "x"}] * (meta.MAX_CHANGES + 1)}]}
    with pytest.raises(base.InvalidWebhook, match="more than"):
        parse(changes)


VALID = envelope({
    "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "4915112345678"}],
    "messages": [inbound("text", {"body": "Start"}),
                 inbound("button", {"payload": "p", "text": "t"}, context={"id": OURS}),
                 inbound("interactive", {"type": "list_reply", "list_reply": {"title": "a"}}),
                 inbound("reaction", {"message_id": OURS, "emoji": "👍"}),
                 inbound("image", {"id": "1", "caption": "c"})],
    "statuses": [status("sent"), status("failed", errors=[{"code": 130429}])]})

ODD_VALUES = [None, True, False, 0, -1, 2 ** 70, 1.5, "", "x", "wamid.ok", "4915112345678",
              "subscribe", "messages", "text", "failed", "\x00", "ä" * 3, [], [None], {}, {"id": 1},
              {"body": "x"}, [{}], [[]], "whatsapp_business_account"]


def mutate(data, rng):
    """One random change somewhere in a copy of ``data``: a value replaced, a key dropped, a
    list emptied or repeated."""
    data = copy.deepcopy(data)
    containers = []

    def walk(node):
        if isinstance(node, (dict, list)):
            containers.append(node)
            for child in (node.values() if isinstance(node, dict) else node):
                walk(child)

    walk(data)
    node = rng.choice(containers)
    if not node:
        return data
    key = rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
    action = rng.random()
    if action < 0.6:
        node[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif action < 0.8:
        del node[key]
    elif isinstance(node, list):
        node.extend(copy.deepcopy(node) * rng.randint(1, 3))
    else:
        node[rng.choice(["type", "status", "field", "errors", "context", "emoji"])] = (
            copy.deepcopy(rng.choice(ODD_VALUES)))
    return data


def test_random_changes_to_a_valid_body_give_events_or_a_reason_never_a_crash():
    rng = random.Random(29)
    outcomes = {"events": 0, "refused": 0}
    for _ in range(3000):
        data = VALID
        for _ in range(rng.randint(1, 4)):
            data = mutate(data, rng)
        try:
            events = meta.parse(body_of(data))
        except base.InvalidWebhook as exc:
            assert str(exc)
            outcomes["refused"] += 1
            continue
        assert isinstance(events, base.Events)
        for message in events.messages:
            assert message.sender[0] == "+" and message.sender[1:].isdigit()
            assert isinstance(message.body, str) and message.kind in v.INBOUND_KINDS
        for update in events.statuses:
            assert update.status in v.RECEIPT_STATUSES and isinstance(update.message_id, str)
        outcomes["events"] += 1
    assert outcomes["events"] > 100 and outcomes["refused"] > 100, outcomes


def test_random_bytes_and_truncations_give_events_or_a_reason_never_a_crash():
    rng = random.Random(4)
    whole = body_of(VALID)
    for _ in range(2000):
        cut = whole[:rng.randint(0, len(whole))]
        flipped = bytearray(whole)
        for _ in range(rng.randint(1, 5)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        for body in (cut, bytes(flipped), rng.randbytes(rng.randint(0, 64))):
            try:
                assert isinstance(meta.parse(body), base.Events)
            except base.InvalidWebhook:
                pass


# --- error codes ------------------------------------------------------------------------------

@pytest.mark.parametrize("code,kind", [
    (130429, v.THROTTLED), (4, v.THROTTLED), (80007, v.THROTTLED), (131056, v.THROTTLED),
    (131049, v.CITIZEN_CAP), (131047, v.TEMPLATE_NEEDED), (131026, v.NOT_ON_WHATSAPP),
    (133010, v.NOT_ON_WHATSAPP), (131050, v.MARKETING_DECLINED), (131048, v.MESSAGING_LIMIT),
    (190, v.CREDENTIALS), (0, v.CREDENTIALS), (131031, v.CREDENTIALS), (368, v.CREDENTIALS),
    (132000, v.TEMPLATE_REFUSED), (132001, v.TEMPLATE_REFUSED), (132005, v.TEMPLATE_REFUSED),
    (132007, v.TEMPLATE_REFUSED), (132012, v.TEMPLATE_REFUSED), (132018, v.TEMPLATE_REFUSED),
    (100, v.REJECTED), (999999, v.REJECTED), (131000, v.UNKNOWN),
])
def test_metas_error_codes_map_into_our_kinds(code, kind):
    assert meta.classify_code(code) == kind
    assert meta.classify_code(str(code)) == kind  # as stored


def test_no_code_is_no_kind_and_a_code_that_is_no_number_is_rejected():
    assert meta.classify_code(None) is None
    assert meta.classify_code("abc") == v.REJECTED
    assert meta.classify_code([1]) == v.REJECTED
