"""Meta's Cloud API module (bot.platforms.meta): signatures, the subscription handshake, webhook
bodies as Meta posts them (and as nobody should), error codes, and the transport against the
fake Graph API on loopback (tests/fake_meta.py), as strict as Meta."""

import copy
import hashlib
import hmac
import json
import random

import pytest

from bot import vocabulary as v
from bot.platforms import base, meta
from tests.fake_meta import ACCESS_TOKEN as TOKEN
from tests.fake_meta import PHONE_NUMBER_ID, FakeMeta

SECRET = "app-secret-for-tests"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
OURS = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA"
# The same ids as the rest of the code sees them (never Meta's own, which hold the number).
WAMID_SEEN, OURS_SEEN = meta.opaque_id(WAMID), meta.opaque_id(OURS)


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
    assert meta.handshake("subscribe", "our-token", "1158201444\n", "our-token") is None


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
    assert message == base.InboundMessage(WAMID_SEEN, "+4915112345678", "Start")
    assert message.kind == v.INBOUND_TEXT


def test_a_template_button_tap_is_a_button_reply_about_our_message():
    message = only_message(envelope({"messages": [inbound(
        "button", {"payload": "Stop", "text": "Abmelden"},
        context={"from": "4930901820", "id": OURS})]}))
    assert (message.kind, message.body, message.replied_to) == (
        v.INBOUND_BUTTON, "Abmelden", OURS_SEEN)


@pytest.mark.parametrize("reply_type", ["button_reply", "list_reply"])
def test_an_interactive_reply_is_a_button_reply_with_its_title(reply_type):
    message = only_message(envelope({"messages": [inbound(
        "interactive", {"type": reply_type, reply_type: {"id": "x", "title": "Ja"}},
        context={"from": "4930901820", "id": OURS})]}))
    assert (message.kind, message.body, message.replied_to) == (v.INBOUND_BUTTON, "Ja", OURS_SEEN)


def test_a_reaction_names_the_message_it_is_about_and_taking_it_back_has_no_emoji():
    given = only_message(envelope({"messages": [
        inbound("reaction", {"message_id": OURS, "emoji": "👍"})]}))
    taken_back = only_message(envelope({"messages": [
        inbound("reaction", {"message_id": OURS})]}))
    assert (given.kind, given.body, given.replied_to) == (v.INBOUND_REACTION, "👍", OURS_SEEN)
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
    assert {s.message_id for s in events.statuses} == {OURS_SEEN}


def test_one_post_may_carry_many_entries_changes_messages_and_statuses():
    data = envelope({"messages": [inbound("text", {"body": "Start"})],
                     "statuses": [status("read")]})
    data["entry"].append(copy.deepcopy(data["entry"][0]))
    data["entry"][0]["changes"].append({"field": "messages", "value": {
        "statuses": [status("delivered", "wamid.other")]}})
    events = parse(data)
    assert len(events.messages) == 2
    assert [s.message_id for s in events.statuses] == [OURS_SEEN, meta.opaque_id("wamid.other"),
                                                       OURS_SEEN]


def test_with_our_phone_number_id_only_changes_for_our_number_count():
    data = envelope({"messages": [inbound("text", {"body": "Start"})],
                     "statuses": [status("read")]})
    data["entry"][0]["changes"].append({"field": "messages", "value": {
        "statuses": [status("delivered", "wamid.unnamed")]}})
    body = body_of(data)
    ours = meta.parse(body, "1234567890")
    assert (len(ours.messages), [s.message_id for s in ours.statuses]) == (1, [OURS_SEEN])
    theirs = meta.parse(body, "1234567899")
    assert (theirs.messages, theirs.statuses) == ([], [])
    # Without a number (demo mode has none set) every change counts.
    assert len(meta.parse(body, "").statuses) == len(meta.parse(body).statuses) == 2


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
    (inbound("text", {"body": "Start"}, id="wamid.x\n"), "id is missing or malformed"),
    (inbound("text", {"body": "Start"}, **{"from": "4915112345678\n"}), "from must be"),
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
    (status("failed", errors=[{"code": "131049\n"}]), "code is not a number"),
    (status("read", message_id=OURS + "\n"), "id is missing or malformed"),
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
              "subscribe", "messages", "text", "failed", "\x00", "ä" * 3, [], [None], {},
              {"id": 1}, {"body": "x"}, [{}], [[]], "whatsapp_business_account"]


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
    (130429, v.THROTTLED), (4, v.THROTTLED), (80007, v.THROTTLED), (131056, v.PAIR_LIMIT),
    (131049, v.CITIZEN_CAP), (131047, v.TEMPLATE_NEEDED), (131026, v.NOT_ON_WHATSAPP),
    (133010, v.CREDENTIALS), (131050, v.MARKETING_DECLINED), (131048, v.MESSAGING_LIMIT),
    (190, v.CREDENTIALS), (0, v.CREDENTIALS), (131031, v.CREDENTIALS), (368, v.CREDENTIALS),
    (131042, v.CREDENTIALS), (131045, v.CREDENTIALS), (133000, v.CREDENTIALS),
    (133005, v.CREDENTIALS), (133016, v.CREDENTIALS),
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


# --- the transport, against the fake Graph API on loopback ------------------------------

# The templates the transport tests send, each in the languages they go out in.
TEMPLATES = {"infokanal_meldung": 1, "meldung": {"languages": {"de": 1, "de_DE": 1}},
             "meldung_2": 2, "meldung_3": 3, "notice": {"language": "en", "parameters": 1},
             "notice_2": {"language": "en", "parameters": 2}}


@pytest.fixture(scope="module")
def graph():
    server = FakeMeta(templates=TEMPLATES, service_window_seconds=None).start()
    yield server
    server.stop()


@pytest.fixture
def api(graph):
    graph.reset()
    return graph


def bodies(api):
    """The JSON of each message the fake took, in order."""
    return [record["json"] for record in api.messages]


def config_for(api, **settings):
    return {"META_ACCESS_TOKEN": TOKEN, "META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "META_API_URL": api.url + "/", "META_API_VERSION": "", "SEND_TIMEOUT_SECONDS": 5,
            **settings}


def send_all(transport, messages):
    """Each message's id or SendError, sent one after the other; the transport closed after."""
    return base.send_each(lambda: transport, messages)


def transport(api, **settings):
    return meta.transport_from(config_for(api, **settings), max_connections=8)


def message(body="Hochwasser an der Hamme.", to="+4915112345678", **extra):
    return base.OutgoingMessage(to=to, body=body, **extra)


def test_a_broadcast_goes_out_as_the_template_with_the_text_as_its_parameter(api):
    sender = transport(api, META_TEMPLATE="infokanal_meldung")
    ids = send_all(sender, [message(), message(to="+4917012345678")])
    assert ids == [meta.opaque_id(record["id"]) for record in api.messages]
    assert api.refused == []
    assert bodies(api)[0] == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678",
        "type": "template", "template": {
            "name": "infokanal_meldung", "language": {"code": "de"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "Hochwasser an der Hamme."}]}]}}
    assert bodies(api)[1]["to"] == "4917012345678"
    assert sender._pool.opened == 1  # kept alive


def test_paragraphs_go_out_as_single_line_parameters_of_the_paragraph_template(api):
    sender = transport(api, META_TEMPLATE="meldung", META_PARAGRAPH_NAMES={
        None: {2: "meldung_2", 3: "meldung_3"}, "en": {2: "notice_2"}},
        META_TEMPLATE_NAMES={"en": "notice"})
    text = "Deichbruch\n\nBitte  meiden Sie\nden Deich.\tDanke.\n\n\nMehr: kreis.de\n\nEnde"
    results = send_all(sender, [message(text), message(text, language="en"),
                                message("Eine Zeile", language="tr")])
    assert all(isinstance(r, str) for r in results), results
    assert api.refused == []
    first, english, turkish = (body["template"] for body in bodies(api))
    assert first["name"] == "meldung_3" and first["language"] == {"code": "de"}
    assert [p["text"] for p in first["components"][0]["parameters"]] == [
        "Deichbruch", "Bitte meiden Sie den Deich. Danke.", "Mehr: kreis.de. Ende"]
    assert english["name"] == "notice_2" and english["language"] == {"code": "en"}
    assert len(english["components"][0]["parameters"]) == 2
    # A language without a template of its own gets the main one.
    assert turkish["name"] == "meldung" and turkish["language"] == {"code": "de"}


def test_a_reply_is_free_form_text_even_with_a_template(api):
    sender = transport(api, META_TEMPLATE="meldung", META_TEMPLATE_LANGUAGE="de_DE")
    [result] = send_all(sender, [message("Willkommen!\n\nSchreiben Sie Stop.", reply=True)])
    assert isinstance(result, str)
    assert bodies(api)[0]["type"] == "text"
    assert bodies(api)[0]["text"] == {"body": "Willkommen!\n\nSchreiben Sie Stop."}


def test_without_a_template_a_text_or_a_picture_by_its_address(api):
    sender = transport(api)
    results = send_all(sender, [
        message("Nur Text"), message("Mit Bild", media_url="https://kreis.example/a.jpg"),
        message("", media_url="https://kreis.example/b.jpg")])
    assert all(isinstance(r, str) for r in results) and api.refused == []
    assert [body["type"] for body in bodies(api)] == ["text", "image", "image"]
    assert bodies(api)[1]["image"] == {"link": "https://kreis.example/a.jpg", "caption": "Mit Bild"}
    assert bodies(api)[2]["image"] == {"link": "https://kreis.example/b.jpg"}


def test_what_cannot_be_sent_is_refused_before_any_request(api):
    sender = transport(api, META_TEMPLATE="meldung")
    empty, too_long, bad_number, broken_number = send_all(sender, [
        message("  \n\n "), message("x" * 1025), message(to="4915112345678"),
        message(to="+4915112345678\n")])
    assert broken_number.kind == v.INVALID_NUMBER
    [empty_reply] = send_all(transport(api), [message("", reply=True)])
    assert (empty.kind, too_long.kind, bad_number.kind, empty_reply.kind) == (
        v.REJECTED, v.REJECTED, v.INVALID_NUMBER, v.REJECTED)
    assert api.messages == [] and api.refused == []


@pytest.mark.parametrize("fault,kind,code", [
    ((400, 130429), v.THROTTLED, 130429), ((429, 4), v.THROTTLED, 4),
    ((400, 131049), v.CITIZEN_CAP, 131049), ((400, 131047), v.TEMPLATE_NEEDED, 131047),
    ((400, 131050), v.MARKETING_DECLINED, 131050), ((401, 190), v.CREDENTIALS, 190),
    ((400, 132018), v.TEMPLATE_REFUSED, 132018), ((400, 131048), v.MESSAGING_LIMIT, 131048),
    ((400, 131026), v.NOT_ON_WHATSAPP, 131026), ((400, 100), v.REJECTED, 100),
    ((400, 131056), v.PAIR_LIMIT, 131056), ((400, 131042), v.CREDENTIALS, 131042),
    ((400, 131045), v.CREDENTIALS, 131045), ((400, 133010), v.CREDENTIALS, 133010),
    ((400, 987654), v.REJECTED, 987654), ((500, 987654), v.UNKNOWN, 987654),
    ((500, None), v.UNKNOWN, 500), ((503, None), v.UNKNOWN, 503),
    ((429, None), v.THROTTLED, 429), ((401, None), v.CREDENTIALS, 401),
    ("garbage", v.UNKNOWN, 200), ("drop", v.UNKNOWN, None),
])
def test_metas_answers_become_send_errors_of_our_kinds(api, fault, kind, code):
    api.error_queue = [fault]
    sender = transport(api)
    failed, fine = send_all(sender, [message(to="+4915100000001"), message()])
    assert isinstance(failed, base.SendError), failed
    assert (failed.kind, failed.code) == (kind, code)
    assert isinstance(fine, str)  # the connection after a failure still serves


def test_a_request_that_hangs_past_the_time_limit_is_unknown(api):
    api.error_queue = ["hang"]
    sender = transport(api, SEND_TIMEOUT_SECONDS=0.3)
    hung, fine = send_all(sender, [message(to="+4915100000002"), message()])
    assert (hung.kind, hung.code) == (v.UNKNOWN, None)
    assert isinstance(fine, str)


def test_a_wrong_token_is_credentials(api):
    [result] = send_all(transport(api, META_ACCESS_TOKEN="expired"), [message()])
    assert (result.kind, result.code) == (v.CREDENTIALS, 190)


def test_a_wrong_phone_number_id_is_credentials_and_pauses_not_a_rejection_each(api):
    # Meta answers 400, code 100 with subcode 33: our number's id does not exist (or is not
    # the token's). Every message would fail the same way; the sender pauses instead.
    [result] = send_all(transport(api, META_PHONE_NUMBER_ID="106540352242923"), [message()])
    assert (result.kind, result.code) == (v.CREDENTIALS, 100)
    assert api.refused and api.messages == []


def test_code_100_without_that_subcode_stays_a_rejection_of_the_message():
    error = meta.classify_answer(400, json.dumps({"error": {
        "code": 100, "error_subcode": 2494010, "message": "(#100) Invalid parameter"}}))
    assert error.kind == v.REJECTED


def test_ids_are_opaque_deterministic_and_hold_no_number():
    wamid = "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjdGMTJBRkUzQTg3RjIzRjJBMgA="
    seen = meta.opaque_id(wamid)
    assert seen == meta.opaque_id(wamid) != meta.opaque_id(wamid[:-2] + "B=")
    assert seen.startswith("wamid:") and len(seen) == 46
    assert "4915112345678" not in seen and wamid[6:] not in seen


def test_nothing_listening_is_unknown():
    [result] = send_all(meta.transport_from({
        "META_ACCESS_TOKEN": TOKEN, "META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "META_API_URL": "http://127.0.0.1:9"}, max_connections=1), [message()])
    assert (result.kind, result.code) == (v.UNKNOWN, None)


def test_a_config_without_meta_settings_sends_to_metas_address():
    sender = meta.transport_from({}, max_connections=1)
    assert sender.url == "https://graph.facebook.com/v23.0//messages"
    configured = meta.transport_from({"META_PHONE_NUMBER_ID": "1", "META_API_VERSION": "v24.0"},
                                     max_connections=1)
    assert configured.url == "https://graph.facebook.com/v24.0/1/messages"


def test_send_now_sends_a_few_from_a_thread_without_a_loop(api):
    results = meta.send_now([message(), message(to="+4915100000003")],
                            config_for(api, META_TEMPLATE="meldung"), timeout_seconds=5)
    assert isinstance(results[0], str) and results[0].startswith("wamid:")
    assert api.refused == [] and len(api.messages) == 2
