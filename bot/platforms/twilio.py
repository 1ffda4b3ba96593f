"""The one module that knows Twilio: its fields, headers, signatures, addresses, error codes.

A leaf (it imports only the vocabulary it maps into, and the HTTP client it sends with).
Everything else sees:
- ``verify(...)`` for a webhook's signature, ``twiml(...)`` for the answer to one;
- ``parse_inbound(form)`` → an ``InboundMessage``, ``parse_status(form)`` → a ``StatusUpdate``,
  both in our words, or ``InvalidWebhook`` with a reason Twilio's debugger can show;
- ``verify_events(...)`` and ``parse_events(body)`` for a post of Event Streams' webhook sink
  (a JSON array of CloudEvents) → ``Receipt``s;
- ``classify_code(code)`` → an error kind of ``vocabulary``;
- ``TwilioTransport.send(message)`` → a message id, or a ``SendError`` with a kind and the
  platform's code as an opaque string.

It is long on purpose: everything that would have to change if the platform changed (or were
replaced) is here, and nowhere else.
"""

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from .. import http_client, phone
from .. import vocabulary as v
from .. import whatsapp_text
from .base import (Events, InboundMessage, InvalidWebhook, OutgoingMessage,  # noqa: F401
                   SendError, StatusUpdate, send_each)

log = logging.getLogger(__name__)

# Twilio's client logs every request at INFO; at a thousand messages a second that is noise.
logging.getLogger("twilio").setLevel(logging.WARNING)

# The service as the press office and citizens know it (console labels, privacy texts).
DISPLAY_NAME = "Twilio"
DEFAULT_API_URL = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_FIELD = SIGNATURE_HEADER.lower().encode()  # as HTTP/1 servers hand it on
_ADDRESS_PREFIX = "whatsapp:"
_ADDRESS = re.compile(r"^whatsapp:(\+[0-9]{6,15})$")
_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")

# Twilio's error codes (REST answers and status callbacks) in our vocabulary.
_CODE_KINDS = {
    20429: v.THROTTLED,
    63018: v.MESSAGING_LIMIT,
    20003: v.CREDENTIALS,
    20404: v.CREDENTIALS,  # the account or sender does not exist: configuration, not recipient
    21610: v.OPTED_OUT,
    63003: v.NOT_ON_WHATSAPP,
    21211: v.INVALID_NUMBER,
    63024: v.INVALID_NUMBER,
    63016: v.TEMPLATE_NEEDED,
    63013: v.TEMPLATE_REFUSED,  # channel policy: in template mode, a variable WhatsApp refuses
    63028: v.TEMPLATE_REFUSED,  # not as many variables as the template has
    # The template's words and its variables together are longer than WhatsApp's 1,024 (or a
    # media header WhatsApp cannot take).
    63021: v.TEMPLATE_REFUSED,
    21656: v.TEMPLATE_REFUSED,  # ContentVariables unreadable
    # The media: not fetched, of a type WhatsApp does not take, or larger than it takes.
    63019: v.REJECTED, 12300: v.REJECTED, 11751: v.REJECTED,
}

# Twilio's message statuses → ours, ranked (see vocabulary): queued, accepted and sending come
# before "sent" and count as sent, since the message has left us.
_STATUS_MAP = {
    "accepted": (v.SENT, 1), "queued": (v.SENT, 1), "scheduled": (v.SENT, 1),
    "sending": (v.SENT, 1), "sent": (v.SENT, v.RANK[v.SENT]),
    "delivered": (v.DELIVERED, v.RANK[v.DELIVERED]), "read": (v.READ, v.RANK[v.READ]),
    "undelivered": (v.FAILED, v.RANK[v.FAILED]), "failed": (v.FAILED, v.RANK[v.FAILED]),
    "canceled": (v.FAILED, v.RANK[v.FAILED]),
}


class InvalidAddress(Exception):
    """Not a WhatsApp address of Twilio's form."""


# --- addresses -------------------------------------------------------------------------------

def address(e164):
    """Our E.164 number as the address Twilio sends to."""
    return _ADDRESS_PREFIX + e164


def number_of(value):
    """``whatsapp:+4915…`` → ``+4915…``; InvalidAddress for anything else."""
    match = _ADDRESS.match((value or "").strip())
    if not match:
        raise InvalidAddress("must look like whatsapp:+<country code><number>")
    return match.group(1)


SENDER_ADDRESS_FORM = ("must be the sender's full number in international form, e.g. "
                       "whatsapp:+4930901820")
RECIPIENT_ADDRESS_FORM = "must look like whatsapp:+<country code><number>, e.g. whatsapp:+49151…"


def is_sender_address(value):
    """Whether a configured sender (``TWILIO_WHATSAPP_FROM``) has the form Twilio expects: a
    whole E.164 number. A stub such as ``whatsapp:+49...`` would make the public page's button
    point nowhere (``wa.me/49``)."""
    match = _ADDRESS.fullmatch(value or "")
    if not match:
        return False
    try:
        return phone.e164(match.group(1)) == match.group(1)
    except phone.InvalidAddress:
        return False


def sender_digits(value):
    """The digits of a configured sender address, for wa.me links."""
    return "".join(c for c in value.removeprefix(_ADDRESS_PREFIX) if c.isdigit())


# --- webhooks --------------------------------------------------------------------------------

def signature_of(headers):
    """The request's signature. Raises ``InvalidWebhook`` when it came more than once: which
    one counts would be a choice the platform never made (a WSGI environ joins repeated
    fields with a comma, which a signature, base64, never holds)."""
    signature = headers.get(SIGNATURE_HEADER, "")
    if "," in signature:
        raise InvalidWebhook(TWICE)
    return signature


def verify(auth_token, url, form, signature):
    """True when ``signature`` is Twilio's for this URL and form (all POST values)."""
    if not signature or not auth_token:
        # Without a token (another platform's deployment) anyone could sign with the empty one.
        return False
    validator = RequestValidator(auth_token)
    # Fast path: the URL exactly as configured. Only when that fails, let the validator also
    # try the default-port variants Twilio may have signed (it computes both every time).
    if hmac.compare_digest(validator.compute_signature(url, form).encode(), signature.encode()):
        return True
    return validator.validate(url, form, signature)


FORBIDDEN = f"forbidden: missing or invalid {SIGNATURE_HEADER}"
TWICE = f"{SIGNATURE_HEADER} given more than once"


@functools.lru_cache(maxsize=256)
def twiml(text=None):
    # Replies come from a handful of configured texts: build each document once.
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


def _message_id(form, *names):
    value = next((form.get(name) for name in names if form.get(name)), None)
    if not value or not _SID.fullmatch(value):
        raise InvalidWebhook("MessageSid is missing or malformed")
    return value


# What Twilio's MessageType says a message is, where it is not a text (or a picture, which is
# handled as one): a tap on a quick-reply or interactive button, a reaction with an emoji.
_MESSAGE_KINDS = {"button": v.INBOUND_BUTTON, "interactive": v.INBOUND_BUTTON,
                  "reaction": v.INBOUND_REACTION}


def parse_inbound(form):
    """A citizen's message as Twilio posts it → InboundMessage."""
    message_id = _message_id(form, "MessageSid", "SmsMessageSid", "SmsSid")
    try:
        sender = number_of(form.get("From"))
    except InvalidAddress as exc:
        raise InvalidWebhook(f"From {exc}") from None
    media = []
    try:
        count = min(int(form.get("NumMedia") or 0), 10)
    except ValueError:
        count = 0
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if url:
            media.append((url, form.get(f"MediaContentType{index}", "")))
    kind = _MESSAGE_KINDS.get((form.get("MessageType") or "").lower())
    if kind is None and form.get("ButtonPayload"):
        kind = v.INBOUND_BUTTON
    body = form.get("Body", "")
    replied_to = form.get("OriginalRepliedMessageSid") or None
    if replied_to and not _SID.fullmatch(replied_to):
        replied_to = None  # looked up among our message ids: only what can be one
    # Whether and how Twilio passes a reaction on is not documented: besides MessageType
    # "reaction", a message that is nothing but an emoji and names the message it answers is
    # taken for one (a written reply has words). An emoji alone, naming nothing, is a text.
    if kind is None and replied_to and not media and whatsapp_text.emoji_only(body):
        kind = v.INBOUND_REACTION
    payload = None
    if kind == v.INBOUND_BUTTON:
        body = form.get("ButtonText") or body
        payload = form.get("ButtonPayload") or None
    if kind == v.INBOUND_REACTION:
        body = body.strip()
    return InboundMessage(message_id, sender, body, media, kind or v.INBOUND_TEXT, replied_to,
                          payload)


def parse_status(form):
    """A status callback → StatusUpdate, or None when it is nothing we track.

    Raises InvalidWebhook for a message id that cannot be one.
    """
    raw = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not (form.get("MessageSid") or form.get("SmsSid")) or raw not in _STATUS_MAP:
        return None
    message_id = _message_id(form, "MessageSid", "SmsSid")
    status, rank = _STATUS_MAP[raw]
    if status != v.FAILED:
        return StatusUpdate(message_id, status, rank)
    code = form.get("ErrorCode") or None
    return StatusUpdate(message_id, status, rank, code, classify_code(code))


# --- Event Streams --------------------------------------------------------------------------

# How receipts reach us: a status callback per message (Twilio posts each once; what the web
# process misses while it restarts is lost), or Event Streams' webhook sink (Twilio queues and
# retries for up to four hours until answered 2xx).
RECEIPTS_CALLBACKS = "callbacks"
RECEIPTS_EVENT_STREAMS = "event-streams"
RECEIPTS = (RECEIPTS_CALLBACKS, RECEIPTS_EVENT_STREAMS)
RECEIPTS_DEFAULT = RECEIPTS_CALLBACKS
# Where the operator points the sink (``web.twilio_events``).
EVENTS_PATH = "/twilio/events"
# Twilio signs a JSON body through its SHA-256, as a query parameter of the signed URL.
BODY_HASH_PARAMETER = "bodySHA256"
# The message statuses Event Streams reports (``com.twilio.messaging.message.<status>``).
MESSAGE_EVENT_PREFIX = "com.twilio.messaging.message."
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True)
class Receipt:
    """One event of a sink's post: its id (the same on every retry of it), and the status it
    reports, or None for an event we do not track (inbound messages come by the webhook)."""

    event_id: str
    update: StatusUpdate = None


def verify_events(auth_token, url, body, signature):
    """True when ``signature`` is Twilio's for this URL (which carries ``bodySHA256``) and
    ``body`` (bytes) is the one that hash names."""
    if not signature or not auth_token:
        return False
    hashes = parse_qs(urlsplit(url).query).get(BODY_HASH_PARAMETER)
    if not hashes or len(hashes) != 1:
        # Unsigned: without the hash the signature would cover the URL only, not the body.
        return False
    # The raw bytes are hashed (the validator would hash a decoded text, and a body that is
    # no UTF-8 could not even be tried); the URL's signature is the validator's to check.
    digest = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(digest.encode(), hashes[0].encode("utf-8", "replace")):
        return False
    return RequestValidator(auth_token).validate(url, {}, signature)


def parse_events(body):
    """A sink's post (bytes) → [Receipt]. Raises InvalidWebhook when it is no JSON array of
    CloudEvents, or a message status event names no message."""
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidWebhook("the body is not JSON") from None
    except RecursionError:
        raise InvalidWebhook("the JSON is nested too deeply") from None
    if not isinstance(events, list):
        raise InvalidWebhook("the body is not a JSON array of events")
    receipts = []
    for number, event in enumerate(events, 1):
        if not isinstance(event, dict):
            raise InvalidWebhook(f"event {number} is not an object")
        event_id, kind = event.get("id"), event.get("type")
        if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise InvalidWebhook(f"event {number} has no valid id")
        if not isinstance(kind, str):
            raise InvalidWebhook(f"event {number} has no type")
        receipts.append(Receipt(event_id, _event_status(number, kind, event.get("data"))))
    return receipts


def _event_status(number, kind, data):
    if not kind.startswith(MESSAGE_EVENT_PREFIX):
        return None
    if not isinstance(data, dict):
        raise InvalidWebhook(f"event {number} has no data")
    raw = data.get("messageStatus") or kind.removeprefix(MESSAGE_EVENT_PREFIX)
    if not isinstance(raw, str) or raw.lower() not in _STATUS_MAP:
        return None  # a status Twilio may add: acknowledged, not stored
    sid = data.get("messageSid")
    if not isinstance(sid, str) or not _SID.fullmatch(sid):
        raise InvalidWebhook(f"event {number}: messageSid is missing or malformed")
    status, rank = _STATUS_MAP[raw.lower()]
    if status != v.FAILED:
        return StatusUpdate(sid, status, rank)
    code = data.get("errorCode")
    # A number, as Twilio's codes are; anything else is no code we could look up or store.
    code = str(code) if isinstance(code, (int, str)) and str(code).isascii() \
        and str(code).isdigit() else None
    return StatusUpdate(sid, status, rank, code, classify_code(code))


# --- errors ----------------------------------------------------------------------------------

def classify_code(code):
    """A Twilio error code (as stored, a string) → an error kind; None for no code at all."""
    if code is None:
        return None
    try:
        return _CODE_KINDS.get(int(code), v.REJECTED)
    except ValueError:
        return v.REJECTED


def classify(exc):
    """Turn whatever the client raised into a SendError, or None when it is not Twilio's."""
    if isinstance(exc, TwilioRestException):
        kind = _CODE_KINDS.get(exc.code)
        if kind is None:
            if exc.status == 429:
                kind = v.THROTTLED
            elif exc.status == 401:
                kind = v.CREDENTIALS
            elif exc.status >= 500:
                kind = v.UNKNOWN
            else:
                kind = v.REJECTED
        return SendError(kind, exc.code or exc.status, exc.msg)
    if isinstance(exc, (asyncio.TimeoutError, ConnectionError)):  # http_client.HttpError too
        return SendError(v.UNKNOWN, None, f"{type(exc).__name__}: {exc}")
    return None


# --- sending ---------------------------------------------------------------------------------

class _HttpClient(AsyncHttpClient):
    """twilio's HTTP seam, over our small client (``http_client``) instead of aiohttp.

    The twilio client still does all of its part: the fields, their names and forms, the
    error answers as ``TwilioRestException``, the ``MessageInstance``. Beneath it, a request is
    the credentials as one precomputed header, the form encoded once to bytes, and a kept-alive
    connection; aiohttp's client spent about twice the CPU on the same post. Every request has
    our time limit: twilio passes none, and a hung request must count as an unknown outcome.
    """

    def __init__(self, account_sid, auth_token, timeout, max_connections):
        super().__init__(log, is_async=True, timeout=timeout)
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        self._authorization = f"Basic {credentials}"
        self._pool = http_client.Pool(limit=max_connections, timeout=timeout)

    async def request(self, method, url, params=None, data=None, headers=None, auth=None,
                      timeout=None, allow_redirects=False):
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params, doseq=True)}"
        headers = dict(headers or {})
        headers["Authorization"] = self._authorization
        body = b""
        if data:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = form_body(data).encode()
        answer = await self._pool.request(method, url, headers, body, timeout)
        # The platform's answers are UTF-8 (JSON): no guessing at a charset for each.
        return Response(answer.status, answer.body.decode("utf-8", "replace"), answer.headers)

    async def close(self):
        await self._pool.close()


# The fields that differ from one message of a broadcast to the next (the recipient): quoted
# anew each time, and never kept.
_PER_RECIPIENT = frozenset(("To",))


@functools.lru_cache(maxsize=256)
def _quoted(text):
    return quote_plus(text)


def form_body(data):
    """A request's form, as ``urlencode(data, doseq=True)`` writes it.

    A message's text, sender and callback address are the same for every recipient of a
    broadcast; urlencode quoted them a character at a time, 26 µs for each message (of the
    sender's 400 or so). They are quoted once and remembered (7 µs a message now); only the
    recipient is quoted for each message.
    """
    pairs = []
    for name, value in data.items():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            item = str(item)
            pairs.append(_quoted(name) + "="
                         + (quote_plus(item) if name in _PER_RECIPIENT else _quoted(item)))
    return "&".join(pairs)


def _poll_content(message, poll_sids):
    """The quick-reply template and its variables for a poll: ``{{1}}`` the text on one line,
    then each answer, then each button's payload, in the buttons' order. The answers stand in
    the template's body, beside fixed button titles ("1", "2", "3"): WhatsApp approves no
    variable in a quick-reply button's title.
    ``poll_sids``: {language or None: {number of answers: content SID}}; a language without
    its own uses the main one's."""
    sids = poll_sids.get(message.language) or poll_sids.get(None) or {}
    sid = sids.get(len(message.buttons))
    if sid is None:
        raise SendError(v.REJECTED, None, f"no poll template (POLL_CONTENT_SID) for "
                                          f"{len(message.buttons)} answers")
    try:
        values = whatsapp_text.variables(message.body, [1])
    except whatsapp_text.Unsendable as exc:
        raise SendError(v.REJECTED, None, f"not sent as a template: {exc}") from None
    values += [title for _, title in message.buttons]
    values += [payload for payload, _ in message.buttons]
    return sid, json.dumps({str(number): value for number, value in enumerate(values, 1)},
                           ensure_ascii=False)


@functools.lru_cache(maxsize=256)
def _content(text, templates):
    """The template and its variables for a text: ``templates`` are ((variables, sid), …) of
    one language. Every recipient of a broadcast gets the same text: worked out once."""
    values = whatsapp_text.variables(text, [count for count, _ in templates])
    sid = dict(templates)[len(values)]
    return sid, json.dumps({str(number): value for number, value in enumerate(values, 1)})


# The media a message carries, by its content type, as the kind of header WhatsApp approved the
# media template for (a picture otherwise).
_MEDIA_KINDS = {"video/mp4": "video", "application/pdf": "document"}


@functools.lru_cache(maxsize=256)
def _media_content(text, sid, name):
    """A media template's variables: ``{{1}}`` the text on one line (its body's only
    variable), ``{{2}}`` the file's name, which the template's media address ends in
    (``PUBLIC_URL/media/{{2}}``: Twilio takes a variable only as the suffix of a fixed
    address)."""
    values = whatsapp_text.variables(text, [1])
    return sid, json.dumps({"1": values[0], "2": name})


class TwilioTransport:
    """Sends through Twilio's REST API with the real client, asynchronously.

    ``content_sid`` set: the approved template, the text as its variable ``{{1}}``
    (business-initiated messages outside the 24-hour window need one); ``paragraph_sids``
    ({language or None for the main one: {variables: sid}}) templates whose own body holds the
    blank lines between one-line variables, one for each number of paragraphs; ``content_sids``
    the single-variable templates of further languages ({code: sid}). A language with its own
    template uses its own templates only; one without uses the main one's. A text never goes
    out as a variable with a line break in it (``whatsapp_text``). Without ``content_sid``: a
    free-form body.

    ``media_sids`` ({language or None: {"image"|"video"|"document": sid}}): the approved
    templates with a media header, for a broadcast that carries a file where broadcasts go
    out as templates; their media address is ``media_base`` (``PUBLIC_URL/media/``) and the
    file's name. A language with its own uses its own, one without the main one's.
    """

    def __init__(self, account_sid, auth_token, from_address, api_url=DEFAULT_API_URL,
                 status_callback=None, content_sid=None, max_connections=256,
                 timeout_seconds=15, content_sids=None, paragraph_sids=None, poll_sids=None,
                 media_sids=None, media_base=None):
        self.from_address = from_address
        self.media_sids = media_sids or {}
        self.media_base = media_base
        self.poll_sids = poll_sids or {}
        self.status_callback = status_callback
        self.content_sid = content_sid
        self.content_sids = content_sids or {}
        paragraph_sids = paragraph_sids or {}
        self._templates = {None: _family(content_sid, paragraph_sids.get(None))}
        for code, sid in self.content_sids.items():
            self._templates[code] = _family(sid, paragraph_sids.get(code))
        # A timeout so that a hung request counts as "unknown" and is retried. At 1,000/s and
        # 150 ms per answer some 150 requests are in flight.
        self._http = _HttpClient(account_sid, auth_token, timeout_seconds, max_connections)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        self._client.api.base_url = (api_url or DEFAULT_API_URL).rstrip("/")

    async def send(self, message):
        kwargs = {"to": address(message.to), "from_": self.from_address}
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        if message.buttons:
            kwargs["content_sid"], kwargs["content_variables"] = _poll_content(
                message, self.poll_sids)
        elif self.content_sid and message.media_url:
            kwargs["content_sid"], kwargs["content_variables"] = self._media_content(message)
        elif self.content_sid:
            templates = self._templates.get(message.language) or self._templates[None]
            try:
                kwargs["content_sid"], kwargs["content_variables"] = _content(
                    message.body, templates)
            except whatsapp_text.Unsendable as exc:
                raise SendError(v.REJECTED, None, f"not sent as a template: {exc}") from None
        else:
            kwargs["body"] = message.body
            if message.media_url:
                kwargs["media_url"] = [message.media_url]
        try:
            created = await self._client.messages.create_async(**kwargs)
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised if unknown
            error = classify(exc)
            if error is None:
                raise
            raise error from exc
        return created.sid

    def _media_content(self, message):
        kind = _MEDIA_KINDS.get(message.media_type, "image")
        sids = self.media_sids.get(message.language) or self.media_sids.get(None) or {}
        sid = sids.get(kind)
        if sid is None:
            raise SendError(v.REJECTED, None, f"no media template (BROADCAST_MEDIA_CONTENT_SID) "
                                              f"for a {kind}")
        name = message.media_url.removeprefix(self.media_base or "\0")
        if not self.media_base or name == message.media_url or not name or "/" in name:
            raise SendError(v.REJECTED, None, "the media template takes only files uploaded "
                                              "here (PUBLIC_URL/media/…)")
        try:
            return _media_content(message.body, sid, name)
        except whatsapp_text.Unsendable as exc:
            raise SendError(v.REJECTED, None, f"not sent as a template: {exc}") from None

    async def close(self):
        await self._http.close()


def _family(sid, paragraph_sids):
    """((variables, sid), …) of one language: its single-variable template and the others."""
    if not sid:
        return None
    return tuple(sorted({1: sid, **(paragraph_sids or {})}.items()))


# Where the sender asks Twilio to post each message's statuses (``web.webhook``).
STATUS_PATH = "/twilio/status"


def transport_from(config, max_connections):
    """The transport the send loop uses, from the deployment's configuration."""
    callback = f"{config['PUBLIC_URL']}{STATUS_PATH}" if config["PUBLIC_URL"] else None
    if config.get("TWILIO_RECEIPTS") == RECEIPTS_EVENT_STREAMS:
        # The receipts come from the sink: a callback per message as well would bring each
        # twice, the second time the one that can be lost.
        callback = None
    elif callback is None:
        log.warning("PUBLIC_URL is not set: no delivery status callbacks will arrive")
    return TwilioTransport(
        config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
        config["TWILIO_WHATSAPP_FROM"], api_url=config["TWILIO_API_URL"],
        status_callback=callback, content_sid=config["BROADCAST_CONTENT_SID"] or None,
        max_connections=max_connections, timeout_seconds=config["SEND_TIMEOUT_SECONDS"],
        content_sids=config.get("CONTENT_SIDS") or {},
        paragraph_sids=config.get("PARAGRAPH_SIDS") or {},
        poll_sids=config.get("POLL_CONTENT_SIDS") or {}, **_media_settings(config))


def _media_settings(config):
    return {"media_sids": config.get("MEDIA_CONTENT_SIDS") or {},
            "media_base": f"{config['PUBLIC_URL']}/media/" if config.get("PUBLIC_URL") else None}


def send_now(messages, config, timeout_seconds=15):
    """``send_messages`` with the deployment's configuration (a test send to staff phones)."""
    return send_messages(
        messages, config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
        config["TWILIO_WHATSAPP_FROM"], api_url=config["TWILIO_API_URL"],
        content_sid=config["BROADCAST_CONTENT_SID"] or None,
        content_sids=config.get("CONTENT_SIDS") or {},
        paragraph_sids=config.get("PARAGRAPH_SIDS") or {}, timeout_seconds=timeout_seconds,
        poll_sids=config.get("POLL_CONTENT_SIDS") or {}, **_media_settings(config))


def send_messages(messages, account_sid, auth_token, from_address, api_url=DEFAULT_API_URL,
                  content_sid=None, content_sids=None, timeout_seconds=15, paragraph_sids=None,
                  poll_sids=None, media_sids=None, media_base=None):
    """Send a few messages at once, outside the send loop (a test send to staff phones), from
    a thread that runs no event loop. Returns, per message, its id or the ``SendError``. No
    status callbacks: there is no delivery to put them on."""

    return send_each(lambda: TwilioTransport(
        account_sid, auth_token, from_address, api_url=api_url, content_sid=content_sid,
        content_sids=content_sids, paragraph_sids=paragraph_sids, max_connections=8,
        timeout_seconds=timeout_seconds, poll_sids=poll_sids, media_sids=media_sids,
        media_base=media_base), messages)
