"""The one module that knows Meta's WhatsApp Cloud API: its fields, headers, signatures,
addresses and error codes.

A leaf (it imports only the vocabulary it maps into, the rule for template variables and the
HTTP client it sends with). Everything else sees:
- ``verify(...)`` for a webhook's signature, ``handshake(...)`` for the subscription check;
- ``parse(body, phone_number_id)`` → ``Events`` (citizens' messages and status updates) in our
  words, or ``InvalidWebhook`` with a plain reason;
- ``classify_code(code)`` → an error kind of ``vocabulary``;
- ``MetaTransport.send(message)`` → a message id, or a ``SendError`` with a kind and the
  platform's code as an opaque string.

Meta's message ids ("wamid.…") are base64 that holds the citizen's number: none leaves this
module as it comes. Every id the rest of the code sees (a message's, the one it answers, a
status's, a sent message's) is ``opaque_id(wamid)``, the same for the same wamid (so that
duplicates and statuses still match) and no way back to the number. The hash is unkeyed on
purpose: the wamid's random part is what makes it unguessable (trying every number would also
have to guess that part), so the hash needs no secret that could be lost or rotated.

It is long on purpose: everything that would have to change if the platform changed (or were
replaced) is here, and nowhere else.
"""

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import re

from .. import http_client
from .. import vocabulary as v
from .. import whatsapp_text
from .base import (Events, InboundMessage, InvalidWebhook, OutgoingMessage,  # noqa: F401
                   SendError, StatusUpdate, send_each)

log = logging.getLogger(__name__)

# The service as the press office and citizens know it (console labels, privacy texts).
DISPLAY_NAME = "Meta"
DEFAULT_API_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v23.0"
DEFAULT_TEMPLATE_LANGUAGE = "de"
SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_FIELD = SIGNATURE_HEADER.lower().encode()  # as HTTP/1 servers hand it on
WEBHOOK_PATH = "/meta/webhook"
FORBIDDEN = f"forbidden: missing or invalid {SIGNATURE_HEADER}"
TWICE = f"{SIGNATURE_HEADER} given more than once"
# The subscription handshake's query parameters (a GET to the webhook's address).
MODE_FIELD, TOKEN_FIELD, CHALLENGE_FIELD = "hub.mode", "hub.verify_token", "hub.challenge"

_SIGNATURE_PREFIX = "sha256="
_SUBSCRIBE = "subscribe"
# Meta's challenge is a number; anything we echo back stays short and plain.
_CHALLENGE = re.compile(r"[A-Za-z0-9._-]{1,256}")
# Message ids ("wamid." and base64 with its padding, or test ids): stored and indexed, so only
# a sane alphabet and length get in. All are matched whole (fullmatch: a "$" would let a
# trailing line break through).
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._=+/:-]{1,256}")
_DIGITS = re.compile(r"[0-9]{6,15}")
# What the opaque form of a message id begins with (``opaque_id``).
_OPAQUE_PREFIX = "wamid:"
_E164 = re.compile(r"\+([0-9]{6,15})")
_CODE = re.compile(r"-?[0-9]{1,12}")

# Meta delivers webhooks in batches of a few; far more in one POST is not Meta.
MAX_EVENTS = 5000
MAX_CHANGES = 1000

_OBJECT = "whatsapp_business_account"
_FIELD = "messages"

# Meta's error codes (API answers and failed statuses) in our vocabulary.
_CODE_KINDS = {
    130429: v.THROTTLED,        # the number's throughput
    4: v.THROTTLED,             # the app's API call rate
    80007: v.THROTTLED,         # the business account's API call rate
    # Too many messages to the same citizen in a short time: hold back that one message, not
    # the whole number (one chatty citizen must not stall a broadcast to everyone).
    131056: v.PAIR_LIMIT,
    131049: v.CITIZEN_CAP,      # Meta's cap on marketing messages per citizen: try later
    131047: v.TEMPLATE_NEEDED,  # free-form text outside the 24-hour window
    131026: v.NOT_ON_WHATSAPP,  # undeliverable
    131050: v.MARKETING_DECLINED,  # the citizen stopped marketing messages: their choice
    131048: v.MESSAGING_LIMIT,  # spam rate limit: pause and resume later
    190: v.CREDENTIALS,         # token expired or revoked
    0: v.CREDENTIALS,           # authentication failed
    10: v.CREDENTIALS,          # the token lacks the permission
    131031: v.CREDENTIALS,      # account locked
    368: v.CREDENTIALS,         # blocked for a policy violation
    131042: v.CREDENTIALS,      # the business is not eligible (payment method, …)
    131045: v.CREDENTIALS,      # our number's certificate or registration is wrong
    132000: v.TEMPLATE_REFUSED,  # not as many parameters as the template has
    132001: v.TEMPLATE_REFUSED,  # no such template in that language
    132005: v.TEMPLATE_REFUSED,  # the filled-in text is too long
    132007: v.TEMPLATE_REFUSED,  # the parameters break the template's format policy
    132012: v.TEMPLATE_REFUSED,  # a parameter's format does not match the template
    132018: v.TEMPLATE_REFUSED,  # a parameter Meta cannot take (line breaks, tabs, spaces)
    100: v.REJECTED,            # an invalid parameter
    131053: v.REJECTED,         # the media behind a link could not be fetched or is not taken
    # Meta's own trouble: whether the message went out is not known; retried and counted.
    1: v.UNKNOWN, 2: v.UNKNOWN, 131000: v.UNKNOWN, 131016: v.UNKNOWN,
}

# Errors of the registration of our own number (1330xx, e.g. 133010 "the account is not
# registered", which Meta's register endpoint names for the business number): nothing can be
# sent from it until someone fixes it; every delivery failing meanwhile would be worse. The
# transient ones among them (133004, 133015) pause too: a pause loses nothing.
_REGISTRATION_CODES = range(133000, 133100)
# Code 100 with this subcode: the object of the address (our phone number id) does not exist or
# the token may not use it; a setting to fix, not this message's fault.
_NO_SUCH_OBJECT = 33

# Meta's message statuses → ours, ranked (see vocabulary). Others ("deleted", "warning", …)
# say nothing about delivery and are left out.
_STATUS_MAP = {
    "sent": (v.SENT, v.RANK[v.SENT]), "delivered": (v.DELIVERED, v.RANK[v.DELIVERED]),
    "read": (v.READ, v.RANK[v.READ]), "failed": (v.FAILED, v.RANK[v.FAILED]),
}

# Messages of these types are not a citizen writing (a changed number, …): nothing to answer.
_IGNORED_TYPES = frozenset(("system",))
_INTERACTIVE_REPLIES = ("button_reply", "list_reply")


# --- webhooks --------------------------------------------------------------------------------

def signature_of(headers):
    """The request's signature. Raises ``InvalidWebhook`` when it came more than once: which
    one counts would be a choice the platform never made (a WSGI environ joins repeated
    fields with a comma, which ``sha256=<hex>`` never holds)."""
    signature = headers.get(SIGNATURE_HEADER, "") or ""
    if "," in signature:
        raise InvalidWebhook(TWICE)
    return signature


def verify(app_secret, body, signature):
    """True when ``signature`` is ``sha256=`` and the hex HMAC-SHA256 of the raw ``body``
    under the app secret (compared in constant time)."""
    if not app_secret or not signature or not isinstance(signature, str):
        return False
    if isinstance(body, str):
        body = body.encode()
    prefix, _, given = signature.strip().partition("=")
    if prefix.lower() + "=" != _SIGNATURE_PREFIX:
        return False
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(digest, given.lower().encode("utf-8", "replace"))


def handshake(mode, token, challenge, verify_token):
    """The challenge to answer when Meta subscribes with our verify token; None otherwise
    (the web layer answers 403)."""
    if mode != _SUBSCRIBE or not verify_token or not isinstance(token, str):
        return None
    if not isinstance(challenge, str) or not _CHALLENGE.fullmatch(challenge):
        return None
    if not hmac.compare_digest(token.encode("utf-8", "replace"), verify_token.encode()):
        return None
    return challenge


def handshake_of(args, verify_token):
    """``handshake`` with the request's query parameters (any mapping with ``get``)."""
    return handshake(args.get(MODE_FIELD), args.get(TOKEN_FIELD), args.get(CHALLENGE_FIELD),
                     verify_token)


def opaque_id(message_id):
    """Meta's message id → the form stored and compared everywhere else (see the module's
    docstring): deterministic, 46 characters, without the citizen's number."""
    return _OPAQUE_PREFIX + hashlib.sha256(message_id.encode()).hexdigest()[:40]


def parse(body, phone_number_id=None):
    """Everything a webhook POST carries → ``Events``.

    ``phone_number_id`` given (not empty, as it is in demo mode without settings): changes for
    another number of the business account (an app gets the webhooks of all of them) are left
    out, messages and statuses alike; so is a change that does not name its number.

    Raises ``InvalidWebhook`` for a body that is not JSON, not Meta's shape, or holds more
    than a webhook ever does. Changes of other fields, statuses we do not track and messages
    that no citizen wrote are left out.
    """
    try:
        data = json.loads(body)
    except RecursionError:
        raise InvalidWebhook("the JSON is nested too deeply") from None
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        raise InvalidWebhook("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidWebhook("the body is not a JSON object")
    if data.get("object") != _OBJECT:
        raise InvalidWebhook(f"object must be {_OBJECT}")
    entries = _list(data.get("entry"), "entry")
    events = Events()
    changes_seen = items_seen = 0
    for entry_index, entry in enumerate(entries):
        where = f"entry[{entry_index}]"
        changes = _list(_object(entry, where).get("changes", []), f"{where}.changes")
        changes_seen += len(changes)
        if changes_seen > MAX_CHANGES:
            raise InvalidWebhook(f"more than {MAX_CHANGES} changes in one request")
        for change_index, change in enumerate(changes):
            here = f"{where}.changes[{change_index}]"
            change = _object(change, here)
            if change.get("field") != _FIELD:
                continue
            value = _object(change.get("value"), f"{here}.value")
            if phone_number_id and _number_of(value) != str(phone_number_id):
                continue
            messages = _list(value.get("messages", []), f"{here}.value.messages")
            statuses = _list(value.get("statuses", []), f"{here}.value.statuses")
            items_seen += len(messages) + len(statuses)
            if items_seen > MAX_EVENTS:
                raise InvalidWebhook(f"more than {MAX_EVENTS} messages and statuses in one "
                                     "request")
            for index, message in enumerate(messages):
                parsed = _message(_object(message, f"{here}.value.messages[{index}]"))
                if parsed is not None:
                    events.messages.append(parsed)
            for index, status in enumerate(statuses):
                parsed = _status(_object(status, f"{here}.value.statuses[{index}]"))
                if parsed is not None:
                    events.statuses.append(parsed)
    return events


def _number_of(value):
    """The phone number id a change's ``value`` is for; None when it names none."""
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        return None
    number = metadata.get("phone_number_id")
    return number if isinstance(number, str) else None


def _object(value, where):
    if not isinstance(value, dict):
        raise InvalidWebhook(f"{where} is not an object")
    return value


def _list(value, where):
    if not isinstance(value, list):
        raise InvalidWebhook(f"{where} is not a list")
    return value


def _string(value, where, default=None):
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise InvalidWebhook(f"{where} is not a string")
    return value


def _message_id(value, where="id"):
    """A message id of the webhook, checked, in the opaque form the rest of the code sees."""
    if not isinstance(value, str) or not _MESSAGE_ID.fullmatch(value):
        raise InvalidWebhook(f"{where} is missing or malformed")
    return opaque_id(value)


def _replied_to(message):
    """The message a tap or a reaction is about, when Meta names one that can be an id."""
    context = message.get("context")
    if context is None:
        return None
    return _message_id(_object(context, "context").get("id"), "context.id")


def _quoted(message):
    """The message a text quotes, when its context names one that can be an id; else None."""
    context = message.get("context")
    quoted = context.get("id") if isinstance(context, dict) else None
    if isinstance(quoted, str) and _MESSAGE_ID.fullmatch(quoted):
        return opaque_id(quoted)
    return None


def _message(message):
    """One of ``value.messages`` → InboundMessage, or None for one no citizen wrote."""
    kind = _string(message.get("type"), "type")
    if kind in _IGNORED_TYPES:
        return None
    message_id = _message_id(message.get("id"))
    sender = message.get("from")
    if not isinstance(sender, str) or not _DIGITS.fullmatch(sender):
        raise InvalidWebhook("from must be the citizen's number in digits")
    sender = "+" + sender
    if kind == "text":
        text = _object(message.get("text"), "text")
        # A text quoting one of our messages names it (context): a typed answer to a poll. A
        # forwarded text has a context without an id: nothing is quoted, nothing is wrong.
        return InboundMessage(message_id, sender, _string(text.get("body"), "text.body"),
                              replied_to=_quoted(message))
    if kind == "button":
        button = _object(message.get("button"), "button")
        body = _string(button.get("text"), "button.text", "")
        payload = button.get("payload")
        return InboundMessage(message_id, sender, body, kind=v.INBOUND_BUTTON,
                              replied_to=_replied_to(message),
                              payload=payload if isinstance(payload, str) else None)
    if kind == "interactive":
        interactive = _object(message.get("interactive"), "interactive")
        reply_type = interactive.get("type")
        body, payload = "", None
        if reply_type in _INTERACTIVE_REPLIES:
            reply = _object(interactive.get(reply_type), f"interactive.{reply_type}")
            body = _string(reply.get("title"), f"interactive.{reply_type}.title", "")
            payload = reply.get("id") if isinstance(reply.get("id"), str) else None
        # Any other interactive answer (a form, …) is still a tap on something we sent.
        return InboundMessage(message_id, sender, body, kind=v.INBOUND_BUTTON,
                              replied_to=_replied_to(message), payload=payload)
    if kind == "reaction":
        reaction = _object(message.get("reaction"), "reaction")
        # Taking a reaction back sends the same without an emoji.
        emoji = _string(reaction.get("emoji"), "reaction.emoji", "")
        return InboundMessage(message_id, sender, emoji, kind=v.INBOUND_REACTION,
                              replied_to=_message_id(reaction.get("message_id"),
                                                     "reaction.message_id"))
    # A picture, a voice message, a location, …: a caption is what the citizen wrote with it.
    # Meta names media by an id to fetch with the token, not by an address: none are passed on.
    content = message.get(kind)
    caption = content.get("caption") if isinstance(content, dict) else None
    return InboundMessage(message_id, sender, caption if isinstance(caption, str) else "",
                          kind=v.INBOUND_OTHER)


def _status(status):
    """One of ``value.statuses`` → StatusUpdate, or None when it is nothing we track."""
    word = status.get("status")
    if not isinstance(word, str) or word not in _STATUS_MAP:
        return None
    message_id = _message_id(status.get("id"))
    name, rank = _STATUS_MAP[word]
    if name != v.FAILED:
        return StatusUpdate(message_id, name, rank)
    errors = _list(status.get("errors", []), "errors")
    code = None
    if errors:
        code = _code_of(_object(errors[0], "errors[0]").get("code"))
    return StatusUpdate(message_id, name, rank, code, classify_code(code))


def _code_of(value):
    """An error code as it travels with us: a string of digits, or None when none is given."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10 ** 12:
        return str(value)
    if isinstance(value, str) and _CODE.fullmatch(value):
        return value
    raise InvalidWebhook("errors[0].code is not a number")


# --- errors ----------------------------------------------------------------------------------

def classify_code(code):
    """A Meta error code (as stored, a string; or a number) → an error kind; None for none."""
    if code is None:
        return None
    try:
        return _kind_of(int(code)) or v.REJECTED
    except (ValueError, TypeError):
        return v.REJECTED


def _kind_of(code, subcode=None):
    """The kind of a known code (and subcode); None for a code we do not know."""
    if code == 100 and subcode == _NO_SUCH_OBJECT:
        return v.CREDENTIALS
    if code in _REGISTRATION_CODES:
        return v.CREDENTIALS
    return _CODE_KINDS.get(code)


def classify_answer(status, body):
    """An HTTP answer that is not a success → SendError.

    Meta answers ``{"error": {"code", "message", …}}``: its code decides; without a code we
    know, the HTTP status does (as on Twilio). An answer we cannot read says nothing about
    whether the message went out: unknown, retried and counted.
    """
    error = _error_of(body)
    if error is None:
        if status == 429:
            return SendError(v.THROTTLED, status, "too many requests")
        if status == 401:
            return SendError(v.CREDENTIALS, status, "unauthorized")
        return SendError(v.UNKNOWN, status, f"an unreadable answer with HTTP {status}")
    code, subcode, message = error
    kind = _kind_of(code, subcode) if code is not None else None
    if kind is None:
        if status == 429:
            kind = v.THROTTLED
        elif status == 401:
            kind = v.CREDENTIALS
        elif status >= 500:
            kind = v.UNKNOWN
        else:
            kind = v.REJECTED
    return SendError(kind, code if code is not None else status, message)


def _error_of(body):
    """(code or None, subcode or None, message) of Meta's error answer; None when the body
    is not one."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    if isinstance(code, str) and _CODE.fullmatch(code):
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    subcode = error.get("error_subcode")
    if not isinstance(subcode, int) or isinstance(subcode, bool):
        subcode = None
    message = error.get("message")
    message = message[:300] if isinstance(message, str) else ""
    return code, subcode, message


# --- sending ---------------------------------------------------------------------------------

# Every request's body begins the same; the recipient follows, then the part that is the same
# for every recipient of one text (worked out once, ``_tail``).
_HEAD = b'{"messaging_product":"whatsapp","recipient_type":"individual","to":"'


def _json_tail(content):
    """``content`` (a dict) as JSON without its opening brace, to follow ``"to":"…",``."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()[1:]


@functools.lru_cache(maxsize=256)
def _template_tail(text, family, language):
    """The template's part of the body for a text: ``family`` ((variables, name), …) of one
    language. Every recipient of a broadcast gets the same text: worked out once."""
    values = whatsapp_text.variables(text, [count for count, _ in family])
    name = dict(family)[len(values)]
    return _json_tail({"type": "template", "template": {
        "name": name, "language": {"code": language},
        "components": [{"type": "body", "parameters": [
            {"type": "text", "text": value} for value in values]}]}})


# Meta's message type for what we send besides pictures (and the default: a picture).
_MEDIA_TYPES = {"video/mp4": "video", "application/pdf": "document"}


@functools.lru_cache(maxsize=256)
def _free_form_tail(text, media_url, media_type=None, filename=None):
    """A free-form message's part of the body: a text, or a picture, video or document by its
    address with the text as its caption (a document also with the name the phone shows)."""
    if media_url:
        kind = _MEDIA_TYPES.get(media_type, "image")
        media = {"link": media_url}
        if text:
            media["caption"] = text
        if kind == "document" and filename:
            media["filename"] = filename
        return _json_tail({"type": kind, kind: media})
    return _json_tail({"type": "text", "text": {"body": text}})


@functools.lru_cache(maxsize=256)
def _media_template_tail(text, kind, link, filename, name, language):
    """A broadcast with a file, as the approved template with a media header of its kind: the
    header's parameter is the file by its address (a document also with the name the phone
    shows), the body's one parameter the text on one line."""
    media = {"link": link}
    if kind == "document" and filename:
        media["filename"] = filename
    values = whatsapp_text.variables(text, [1])
    return _json_tail({"type": "template", "template": {
        "name": name, "language": {"code": language}, "components": [
            {"type": "header", "parameters": [{"type": kind, kind: media}]},
            {"type": "body", "parameters": [{"type": "text", "text": values[0]}]}]}})


def language_code(code):
    """Meta's code for a template in one of our languages: Leichte Sprache (de-LS) is German
    to WhatsApp, approved as a German template of its own; a region is written "pt_BR"."""
    primary, _, variant = code.partition("-")
    if not variant or variant.casefold() == "ls":
        return primary
    return f"{primary}_{variant.upper()}"


@functools.lru_cache(maxsize=256)
def _poll_template_tail(text, buttons, name, language):
    """A poll as its quick-reply template: the body's parameters are the text on one line and
    then each answer (the approved template's buttons carry fixed titles, so the answers are
    in its body); each button's parameter is its payload, in the buttons' order."""
    values = whatsapp_text.variables(text, [1]) + [title for _, title in buttons]
    components = [{"type": "body", "parameters": [
        {"type": "text", "text": value} for value in values]}]
    components += [{"type": "button", "sub_type": "quick_reply", "index": str(index),
                    "parameters": [{"type": "payload", "payload": payload}]}
                   for index, (payload, _) in enumerate(buttons)]
    return _json_tail({"type": "template", "template": {
        "name": name, "language": {"code": language}, "components": components}})


@functools.lru_cache(maxsize=256)
def _interactive_tail(text, buttons):
    """A poll inside the window: an interactive message with a reply button per answer."""
    return _json_tail({"type": "interactive", "interactive": {
        "type": "button", "body": {"text": text},
        "action": {"buttons": [{"type": "reply", "reply": {"id": payload, "title": title}}
                               for payload, title in buttons]}}})


def _family(name, paragraph_names):
    """((variables, name), …) of one language: its single-variable template and the others."""
    if not name:
        return None
    return tuple(sorted({1: name, **(paragraph_names or {})}.items()))


class MetaTransport:
    """Sends through Meta's Cloud API: JSON posted with a bearer token over kept-alive
    connections (``http_client``).

    ``template`` set: the approved template in ``template_language``, the text as its body
    parameters (business-initiated messages outside the 24-hour window need one);
    ``paragraph_names`` ({language or None for the main one: {variables: name}}) templates
    whose own body holds the blank lines between one-line variables; ``template_names`` the
    single-variable templates of further languages ({code: name}, sent in that language).
    A language with its own template uses its own templates only; one without uses the main
    one's. A text never goes out as a parameter with a line break in it (``whatsapp_text``).
    Without ``template``, and for replies to a citizen who just wrote (inside the window): a
    free-form text, or a picture, video or document by its address.

    A message with buttons (a poll) goes out as the quick-reply template of ``poll_names``
    ({language or None: {number of answers: name}}) where broadcasts go out as templates, and
    as an interactive message with reply buttons where they go free-form (inside the window).

    A broadcast with a file, where broadcasts go out as templates, goes out as the template
    with a media header of its kind from ``media_names`` ({language or None: {"image" |
    "video" | "document": name}}); a language with its own uses its own, one without the main
    one's.
    """

    def __init__(self, access_token, phone_number_id, api_url=DEFAULT_API_URL,
                 api_version=DEFAULT_API_VERSION, template=None,
                 template_language=DEFAULT_TEMPLATE_LANGUAGE, template_names=None,
                 paragraph_names=None, max_connections=256, timeout_seconds=15,
                 poll_names=None, media_names=None):
        base = (api_url or DEFAULT_API_URL).rstrip("/")
        self.media_names = media_names or {}
        self.poll_names = poll_names or {}
        self.template_language = template_language or DEFAULT_TEMPLATE_LANGUAGE
        self.url = f"{base}/{api_version or DEFAULT_API_VERSION}/{phone_number_id}/messages"
        self._headers = {"Authorization": f"Bearer {access_token}",
                         "Content-Type": "application/json"}
        paragraph_names = paragraph_names or {}
        self.template = template or None
        self._templates = {None: (_family(self.template, paragraph_names.get(None)),
                                  template_language or DEFAULT_TEMPLATE_LANGUAGE)}
        for code, name in (template_names or {}).items():
            if name:
                self._templates[code] = (_family(name, paragraph_names.get(code)),
                                         language_code(code))
        self._pool = http_client.Pool(limit=max_connections, timeout=timeout_seconds)

    def body(self, message):
        """The request's JSON body for one message (bytes); SendError when it cannot be sent."""
        match = _E164.fullmatch(message.to or "")
        if not match:
            raise SendError(v.INVALID_NUMBER, None, "not a number in international form")
        if message.buttons:
            tail = self._poll_tail(message)
        elif self.template and not message.reply and message.media_url:
            tail = self._media_tail(message)
        elif self.template and not message.reply:
            family, language = self._templates.get(message.language) or self._templates[None]
            try:
                tail = _template_tail(message.body, family, language)
            except whatsapp_text.Unsendable as exc:
                raise SendError(v.REJECTED, None, f"not sent as a template: {exc}") from None
        elif message.body or message.media_url:
            tail = _free_form_tail(message.body, message.media_url or None, message.media_type,
                                   message.media_filename)
        else:
            raise SendError(v.REJECTED, None, "not sent: the text is empty")
        return b'%b%b",%b' % (_HEAD, match.group(1).encode(), tail)

    def _media_tail(self, message):
        kind = _MEDIA_TYPES.get(message.media_type, "image")
        language = message.language if message.language in self.media_names else None
        name = (self.media_names.get(language) or {}).get(kind)
        if name is None:
            raise SendError(v.REJECTED, None, f"no media template (META_MEDIA_TEMPLATE) for "
                                              f"a {kind}")
        code = language_code(language) if language else self.template_language
        try:
            return _media_template_tail(message.body, kind, message.media_url,
                                        message.media_filename, name, code)
        except whatsapp_text.Unsendable as exc:
            raise SendError(v.REJECTED, None, f"not sent as a template: {exc}") from None

    def _poll_tail(self, message):
        buttons = tuple(message.buttons)
        if not self.template or message.reply:
            return _interactive_tail(message.body, buttons)
        language = message.language if message.language in self.poll_names else None
        name = (self.poll_names.get(language) or {}).get(len(buttons))
        if name is None:
            raise SendError(v.REJECTED, None, f"no poll template (META_POLL_TEMPLATE) for "
                                              f"{len(buttons)} answers")
        try:
            # Leichte Sprache is German to WhatsApp, a region is written "pt_BR": the same
            # code as the language's text template.
            return _poll_template_tail(message.body, buttons, name,
                                       language_code(language) if language
                                       else self.template_language)
        except whatsapp_text.Unsendable as exc:
            raise SendError(v.REJECTED, None, f"not sent as a template: {exc}") from None

    async def send(self, message):
        body = self.body(message)
        try:
            answer = await self._pool.request("POST", self.url, self._headers, body)
        except (asyncio.TimeoutError, ConnectionError) as exc:  # http_client.HttpError too
            raise SendError(v.UNKNOWN, None, f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= answer.status < 300:
            raise classify_answer(answer.status, answer.body)
        message_id = _sent_id(answer.body)
        if message_id is None:
            raise SendError(v.UNKNOWN, answer.status, "an answer without a message id")
        return message_id

    async def close(self):
        await self._pool.close()


def _sent_id(body):
    """The id of ``{"messages": [{"id": "wamid.…"}], …}`` in its opaque form; None when the
    answer has none."""
    try:
        data = json.loads(body)
        message_id = data["messages"][0]["id"]
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        return None
    if not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id):
        return None
    return opaque_id(message_id)


def _settings(config):
    """The transport's arguments from the deployment's configuration (read with defaults, so
    that a configuration without some of the settings still loads)."""
    return {
        "access_token": config.get("META_ACCESS_TOKEN") or "",
        "phone_number_id": config.get("META_PHONE_NUMBER_ID") or "",
        "api_url": config.get("META_API_URL") or DEFAULT_API_URL,
        "api_version": config.get("META_API_VERSION") or DEFAULT_API_VERSION,
        "template": config.get("META_TEMPLATE") or None,
        "template_language": config.get("META_TEMPLATE_LANGUAGE") or DEFAULT_TEMPLATE_LANGUAGE,
        "template_names": config.get("META_TEMPLATE_NAMES") or {},
        "paragraph_names": config.get("META_PARAGRAPH_NAMES") or {},
        "poll_names": config.get("META_POLL_TEMPLATES") or {},
        "media_names": config.get("META_MEDIA_TEMPLATES") or {},
    }


def transport_from(config, max_connections):
    """The transport the send loop uses, from the deployment's configuration."""
    return MetaTransport(**_settings(config), max_connections=max_connections,
                         timeout_seconds=config.get("SEND_TIMEOUT_SECONDS") or 15)


def send_now(messages, config, timeout_seconds=15):
    """Send a few messages at once, outside the send loop (a test send to staff phones), from
    a thread that runs no event loop. Returns, per message, its id or the ``SendError``."""

    return send_each(lambda: MetaTransport(**_settings(config), max_connections=8,
                                           timeout_seconds=timeout_seconds), messages)
