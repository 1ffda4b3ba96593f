"""A fake of Meta's WhatsApp Cloud API (the Graph API's messages endpoint) on loopback, for tests
and benchmarks.

It accepts ``POST /<version>/<phone number id>/messages`` with a bearer token and JSON, checks
the request as strictly as Meta does (path, token, ``messaging_product``, ``to`` in digits, the
object for the ``type`` with its fields and types, template name and language, the number of
body parameters, and WhatsApp's single-line rule for each parameter), answers with ``wamid.…``
ids or Graph-shaped errors, and can be told to be slow, to hang, to drop connections, and to
answer 130429, 5xx or a given code for given recipients.

A template's body as sent (its own words with the parameters filled in) holds at most 1,024
characters: a longer one is refused at once with 132005 (after the checks of each parameter,
which are more specific). A template's body is the ``"body"`` of its spec in ``templates`` (its
own words with ``{{1}}``…; a string, or {language code: string}), else the one the operator docs
recommend: ``Infokanal Landkreis Musterstadt:`` and ``Abmelden: „Stop“ senden.`` around its
parameters, each a paragraph of its own; a template with quick-reply buttons has the poll's,
the question and then the answers in fixed words (``template_bodies``).

As on Meta, a free-form message (text, image, …) goes out only inside the 24-hour
customer-service window: to a number that wrote to us (``post_inbound``) within the last
``service_window_seconds``. Outside it the message is accepted and then only a ``failed``
status with 131047 follows; templates go out at any time. A pair limit (``pair_limit`` messages
to one number within ``pair_limit_seconds``, off unless set) refuses further ones with 131056.
WhatsApp's messaging limit (``messaging_limit``, off unless set): templates delivered outside a
citizen's window reach at most that many different numbers within ``messaging_limit_seconds``
(24 hours, rolling); someone reached within that time does not count again. A template to one
more is accepted and then only a ``failed`` status with 131048 follows (``limited``).

A picture, video or document is fetched by its link after the message was taken, as Meta does,
when the link lies on loopback (``fake_media``): a type the message's kind does not take, more
than its limit (5 MB, 16 MB, 100 MB) or a link that cannot be fetched fail it with a ``failed``
status (131053).

It posts signed webhooks back (``X-Hub-Signature-256``): the statuses of each accepted message,
one per POST or several to a POST, spread over several entries and changes if asked, and
inbound messages (text, button replies, reactions, pictures). As Meta does, it posts again,
with backoff, any webhook not answered ``200`` (another status, a dropped connection, a timeout),
and it counts for each message which statuses the app acknowledged.

In tests: ``FakeMeta(...).start()`` runs it in a thread. For benchmarks:
``python -m tests.fake_meta --port 8791 --latency 0.15 --webhook-url http://…/meta/webhook``
runs it as its own process; it is then steered over ``/_fake/*`` (JSON).
"""

import argparse
import asyncio
import base64
import copy
import gc
import hashlib
import hmac
import itertools
import json
import random
import re
import threading
import time
from collections import Counter, deque
from urllib.parse import urlsplit

from aiohttp import web

from tests import fake_media, template_bodies

ACCESS_TOKEN = "test-meta-access-token-not-a-real-one"
PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "test-meta-app-secret-not-a-real-one"
WABA_ID = "102290129340398"
DISPLAY_PHONE_NUMBER = "4930901820"
TEMPLATE = "infokanal_broadcast"
# What a fresh fake knows: one approved template in German with one body parameter.
DEFAULT_TEMPLATES = {TEMPLATE: {"language": "de", "parameters": 1}}

# WhatsApp's limits for a template's body parameter and a text message's body.
PARAMETER_LIMIT = 1024
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
INVALID_PARAMETER = 100
PARAMETER_COUNT = 132000
# The template's body with its parameters filled in is longer than WhatsApp sends.
BODY_TOO_LONG = 132005
# A parameter's format does not match the template's (a header of another kind than approved).
PARAMETER_FORMAT = 132012
OUTSIDE_WINDOW = 131047
PAIR_LIMIT = 131056
# Meta documents no code of its own for the messaging limit; what the platforms answer when it
# is reached is the spam rate limit's, which the sender treats as the limit (a pause).
MESSAGING_LIMIT = 131048
TEMPLATE_MISSING = 132001
# The media behind a link could not be fetched, is not of a type the message's kind takes, or
# is larger than its limit.
MEDIA_UPLOAD = 131053
SINGLE_LINE = "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
# Every way of breaking a line (Python's own list, which holds WhatsApp's newline), and a tab.
_LINE_BREAKS = frozenset("\n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_VERSION = re.compile(r"v\d+\.\d+")
_DIGITS = re.compile(r"\d{6,15}")
MESSAGE_TYPES = ("text", "template", "image", "video", "document", "interactive")
# An interactive reply-button message: its body, its buttons, a button's title and id at most.
INTERACTIVE_BODY_LIMIT, MOST_BUTTONS, TITLE_LIMIT, BUTTON_ID_LIMIT = 1024, 3, 20, 256
# A template's quick-reply button payload at most.
PAYLOAD_LIMIT = 256

# Titles Meta gives its codes (error bodies and the ``errors`` of a failed status).
TITLES = {
    0: "AuthException",
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    368: "Temporarily blocked for policies violations",
    2500: "Unknown path components",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131031: "Account has been locked",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving "
            "marketing messages on WhatsApp from your business.",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131053: "Media upload error",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132005: "Template Hydrated Text Too Long",
    133010: "Account not registered",
}

# Everything a test or a benchmark may set (constructor keywords, ``/_fake/config`` keys); reset()
# brings back the constructor's values.
SETTINGS = {
    "latency": 0.0,             # seconds before each API request is looked at
    "hold_after": None,         # accept this many messages, then keep further sends waiting
    # [http status, code], "drop", ["slow", seconds] or "hang": consumed one per API request.
    # A slow request is answered normally after the delay; a hanging one never (reset() or
    # stop() drops it). [http status, None] is answered without a body, and "garbage" with an
    # HTML page, as a proxy in front of the Graph API may answer.
    "error_queue": [],
    "rate_130429": 0.0,         # share of requests answered 130429 (throughput), seeded
    "rate_500": 0.0,            # share answered 500 / 131000
    "rate_drop": 0.0,           # share whose connection is dropped unanswered
    "recipient_errors": {},     # digits → [http status, code]: refused at once
    "recipient_failures": {},   # digits → code: accepted, then only a "failed" status
    "statuses": [],             # statuses to post per accepted message, e.g. sent, delivered, read
    # Codes for the next accepted messages, one each: that message gets "sent" and then
    # "failed" with the code instead of ``statuses``.
    "callback_failures": [],
    "callback_shuffle": False,  # each message's statuses in a random (seeded) order
    "callback_repeat": 1,       # each status posted this many times (at-least-once delivery)
    "callback_delay": 0.0,      # seconds from accepting a message to its first status
    "callback_spacing": 0.0,    # seconds between the statuses of one message
    "webhook_url": None,        # where statuses and inbound messages are posted
    "webhook_batch": 1,         # statuses at most per POST (1: one per POST)
    "webhook_batch_seconds": 0.0,  # how long statuses are gathered before a POST
    "webhook_entries": 1,       # entries a POST's statuses are spread over
    "webhook_changes": 1,       # changes each entry's statuses are spread over
    "webhook_timeout": 10.0,    # a POST not answered within this counts as failed
    "webhook_connections": 64,  # kept-alive connections to the app at most
    "retry_seconds": 0.5,       # first wait before posting a failed webhook again, doubling
    "retry_cap": 30.0,          # longest wait between two posts of one webhook
    "retry_for": 600.0,         # a webhook still not answered 200 after this is given up
    # name → {"language": "de", "parameters": n}; "languages": ["de", "en"] or {"de": n, …}
    # for several languages; a bare number means German with that many parameters.
    # "buttons": n gives the template n quick-reply buttons (their payloads are parameters).
    # "header": "image" | "video" | "document" gives it a media header of that kind, which
    # every message of it must fill with a file of that kind by its link.
    # "body": its approved body, own words with {{1}}… (or {language: body}); else the docs'.
    "templates": DEFAULT_TEMPLATES,
    "template_category": "utility",  # the pricing category of template messages
    # How long after a citizen's last message free-form messages to them go out (Meta: 24 h);
    # None lets them go out at any time (a test about something else says why it needs that).
    "service_window_seconds": 86400.0,
    # More than this many accepted messages to one number within pair_limit_seconds are refused
    # with 131056, as Meta limits the pair of our number and one citizen's; 0 is off.
    "pair_limit": 0,
    "pair_limit_seconds": 6.0,
    # Different numbers templates may reach outside their window within messaging_limit_seconds
    # (Meta: 250, 2,000, 10,000, 100,000 per rolling 24 hours); None is unlimited.
    "messaging_limit": None,
    "messaging_limit_seconds": 86400.0,
}
# Other words for the same settings: fake_twilio's (a harness may steer both fakes alike) and
# the benchmark's.
ALIASES = {"callbacks": "statuses", "status_delay": "callback_delay",
           "status_batch": "webhook_batch"}


class Refusal(Exception):
    """A request Meta refuses: HTTP status, Graph code and the details it gives."""

    def __init__(self, status, code, details, subcode=None):
        super().__init__(details)
        self.status, self.code, self.details, self.subcode = status, code, details, subcode


def template_languages(spec):
    """One template's configuration as {language code: number of body parameters}."""
    if isinstance(spec, int):
        return {"de": spec}
    languages = spec.get("languages", spec.get("language", "de"))
    if isinstance(languages, dict):
        return dict(languages)
    if isinstance(languages, str):
        languages = [languages]
    return {code: spec.get("parameters", 1) for code in languages}


def template_body(spec, code, parameters):
    """The approved body of a template (its spec in ``templates``) in language ``code`` taking
    ``parameters``: its ``"body"``, else the docs' (a poll's for one with quick-reply buttons).
    ValueError for a body WhatsApp would not approve for it."""
    spec = spec if isinstance(spec, dict) else {}
    body = spec.get("body")
    if isinstance(body, dict):
        body = body.get(code)
    if body is None:
        buttons = spec.get("buttons", 0)
        return (template_bodies.poll_body(buttons) if buttons and parameters == buttons + 1
                else template_bodies.default_body(parameters))
    template_bodies.check_body(body, range(1, parameters + 1))
    return body


def template_bodies_of(templates):
    """{(name, language code): approved body} of every template of ``templates``; ValueError
    for a body WhatsApp would not approve."""
    return {(name, code): template_body(spec, code, parameters)
            for name, spec in templates.items()
            for code, parameters in template_languages(spec).items()}


def parameter_refusal(text):
    """Why WhatsApp refuses this body parameter's text, or None."""
    if not text.strip():
        return "Param text cannot be empty"
    if _LINE_BREAKS & set(text) or " " * 5 in text:
        return SINGLE_LINE
    if len(text) > PARAMETER_LIMIT:
        return f"Param text is {len(text)} characters long, at most {PARAMETER_LIMIT} are allowed"
    return None


class _Exchange(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection to the app, one request at a time."""

    def __init__(self):
        self.transport = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._answer = None
        self._status = None
        self._length = None      # body bytes still to come; None: reading the head
        self._chunked = False
        self._close_after = False

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.closed = True
        if self._answer is not None and not self._answer.done():
            if self._status is not None and self._length == -1:
                self._answer.set_result(self._status)   # a body that ends with the connection
            else:
                self._answer.set_exception(ConnectionError("connection closed unanswered"))

    def time_out(self):
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(asyncio.TimeoutError())
        self.transport.abort()

    def request(self, payload):
        self._buffer.clear()
        self._status = self._length = None
        self._chunked = self._close_after = False
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self._answer

    def data_received(self, data):
        self._buffer += data
        if self._answer is None or self._answer.done():
            return
        if self._length is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            del self._buffer[:end + 4]
            try:
                self._status = int(lines[0].split()[1])
            except (IndexError, ValueError):
                self.transport.abort()
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip().lower()
            self._close_after = headers.get("connection") == "close"
            self._chunked = "chunked" in headers.get("transfer-encoding", "")
            if self._chunked:
                self._length = 0
            elif "content-length" in headers:
                self._length = int(headers["content-length"])
            else:
                self._length = -1           # until the connection closes
                self._close_after = True
        if self._length == -1:
            return
        if self._chunked:
            # Only the end matters: a last chunk of size 0 and the blank line after it.
            if not self._buffer.endswith(b"0\r\n\r\n"):
                return
        elif len(self._buffer) < self._length:
            return
        self._answer.set_result(self._status)


class KeptAlivePoster:
    """POSTs to one app over at most ``limit`` kept-alive connections.

    In a benchmark this fake posts thousands of webhooks a second beside the app whose CPU is
    measured; aiohttp's client spends several times the CPU per request of these few lines,
    which say only what HTTP/1.1 needs for a POST and its answer. A connection idle longer
    than ``idle_seconds`` is closed rather than reused, so that a server's own keep-alive
    timeout does not turn into a failed post.
    """

    def __init__(self, limit, idle_seconds=1.5):
        self.limit = limit
        self.idle_seconds = idle_seconds
        self._idle = []
        self._slots = asyncio.Semaphore(limit)

    async def post(self, url, body, headers, timeout):
        """The app's HTTP status; raises OSError (also ConnectionError) or TimeoutError."""
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        payload = (f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        loop = asyncio.get_running_loop()
        async with self._slots:
            exchange = self._reuse(loop.time())
            if exchange is None:
                _, exchange = await asyncio.wait_for(loop.create_connection(
                    _Exchange, parts.hostname, parts.port or 80), timeout)
            # A timer that aborts the connection costs less than wait_for's task per post.
            timer = loop.call_later(timeout, exchange.time_out)
            try:
                status = await exchange.request(payload)
            except BaseException:
                exchange.transport.abort()
                raise
            finally:
                timer.cancel()
            if exchange._close_after or exchange.closed:
                exchange.transport.close()
            else:
                exchange.idle_since = loop.time()
                self._idle.append(exchange)
            return status

    def _reuse(self, now):
        while self._idle:
            exchange = self._idle.pop()
            if not exchange.closed and now - exchange.idle_since < self.idle_seconds:
                return exchange
            exchange.transport.close()
        return None

    def close(self):
        for exchange in self._idle:
            exchange.transport.close()
        self._idle.clear()


class FakeMeta:
    def __init__(self, access_token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID,
                 app_secret=APP_SECRET, waba_id=WABA_ID,
                 display_phone_number=DISPLAY_PHONE_NUMBER, host="127.0.0.1", port=0,
                 seed=20261206, **settings):
        unknown = set(settings) - set(SETTINGS) - set(ALIASES)
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.app_secret = app_secret
        self.waba_id = waba_id
        self.display_phone_number = display_phone_number
        self.host = host
        self.port = port
        self._defaults = dict(SETTINGS)
        self._defaults.update({ALIASES.get(key, key): value for key, value in settings.items()})
        self._configured_token = access_token
        # Shuffles and injected faults come from a seeded generator: a failing run can be
        # replayed exactly (reset() seeds it again).
        self.seed = seed
        self.random = random.Random(seed)
        self._ids = itertools.count(1)
        self._loop = None
        self._runner = None
        self._thread = None
        self._poster = None
        self._deliveries = set()
        self._timer = None
        self._outbox = []
        self._scheduled = set()
        self._media_tasks = set()
        self._apply(self._defaults)
        self._clear_records()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def messages_url(self, version="v23.0"):
        return f"{self.url}/{version}/{self.phone_number_id}/messages"

    def app(self):
        application = web.Application(client_max_size=1024 ** 2)
        application.router.add_post("/{version}/{phone_number_id}/messages", self._send)
        application.router.add_get("/_fake/stats", self._stats)
        application.router.add_post("/_fake/config", self._config)
        application.router.add_post("/_fake/reset", self._reset)
        application.router.add_post("/_fake/inbound", self._inbound)
        application.router.add_get("/_fake/sent", self._sent)
        application.router.add_post("/_fake/first_sent", self._first_sent)
        # Whatever else is asked is answered as the Graph API answers a path it does not know.
        application.router.add_route("*", "/{tail:.*}", self._unknown_path)
        return application

    async def _start_async(self):
        self._loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._poster = KeptAlivePoster(self.webhook_connections)
        self._released = asyncio.Event()
        self._released.set()
        self._unhang = asyncio.Event()

    def start(self):
        ready = threading.Event()

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start_async())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-meta", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Meta did not start")
        return self

    def stop(self):
        if self._loop is None:
            return

        async def shutdown():
            self._cancel_deliveries()
            self._poster.close()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def _on_loop(self, function, *args):
        """Run ``function`` on the fake's loop and wait for it (from a test's thread)."""
        if self._loop is None:
            return function(*args)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return function(*args)

        async def call():
            return function(*args)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def hold(self, after):
        """Accept ``after`` messages, then keep every further send waiting until release()."""
        self.hold_after = after
        self._loop.call_soon_threadsafe(self._released.clear)

    def release(self):
        self.hold_after = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._released.set)

    def reset(self):
        """Back to the constructor's settings, nothing recorded, nothing waiting or retrying."""
        self._on_loop(self._reset_on_loop)

    def _reset_on_loop(self):
        self._cancel_deliveries()
        self._apply(self._defaults)
        self.access_token = self._configured_token
        self._clear_records()
        self.random.seed(self.seed)
        if self._loop is not None:
            self._unhang.set()
            self._unhang = asyncio.Event()
            self._released.set()

    def _cancel_deliveries(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._outbox = []
        for task in list(self._deliveries):
            task.cancel()
        self._deliveries.clear()
        for handle in self._scheduled:
            handle.cancel()
        self._scheduled = set()

    def _apply(self, settings):
        for key, value in settings.items():
            setattr(self, ALIASES.get(key, key), copy.deepcopy(value))
        self._templates = {name: template_languages(spec)
                           for name, spec in self.templates.items()}
        self._template_buttons = {name: spec.get("buttons", 0) if isinstance(spec, dict) else 0
                                  for name, spec in self.templates.items()}
        self._template_headers = {name: spec.get("header") if isinstance(spec, dict) else None
                                  for name, spec in self.templates.items()}
        self._template_bodies = template_bodies_of(self.templates)

    def _clear_records(self):
        self.messages = []          # accepted messages in order, see _record
        self.by_id = {}             # wamid → the same record
        # (type, link) → why Meta would not deliver it (``fake_media``), or None
        self.media_verdicts = {}
        self.requests = 0           # every messages request, accepted or not
        self.per_second = Counter()  # accepted messages by whole second (time.time())
        self.refused = []           # {"status", "code", "details", "to"} of refused requests
        # wamid → statuses of it that the app answered 200 at least once
        self.acknowledged = {}
        self.acknowledged_counts = Counter()  # status → messages with it acknowledged
        self.expected_counts = Counter()  # status → messages it is to be posted for
        self.to_counts = Counter()  # digits → messages accepted to them
        self.type_counts = Counter()  # message type → messages accepted
        self.first_sent = {}        # digits → when the first message to them was accepted
        self.webhook_posts = Counter()   # status POSTs: posted, answered_200, failed, retried, …
        self.webhook_answers = Counter()  # HTTP status (or "error", "timeout") → POSTs
        self.inbound = []           # posted inbound messages: {"id", "from", "kind", "answers"}
        self.last_inbound = {}      # digits → when they last wrote to us (the 24-hour window)
        self._recent = {}           # digits → when the latest messages to them were accepted
        self.reached = {}           # digits → when a template last reached them (outside window)
        self.limited = []           # wamids of templates the messaging limit stopped
        self.inbound_posts = Counter()
        # POSTs not yet answered 200 nor given up (statuses, inbound messages)
        self._waiting = {"pending": set(), "inbound_pending": set()}

    @property
    def pending(self):
        """Status POSTs not yet answered 200 nor given up."""
        return len(self._waiting["pending"])

    @property
    def inbound_pending(self):
        return len(self._waiting["inbound_pending"])

    def sent_to(self, digits):
        """The accepted messages to one number (digits, as in ``to``), oldest first."""
        return [record for record in self.messages if record["to"] == digits]

    # -- the API ----------------------------------------------------------------------------

    def _fbtrace_id(self):
        return base64.b64encode(next(self._ids).to_bytes(8, "big") + b"fake").decode()[:23]

    def _error(self, status, code, details=None, subcode=None):
        title = TITLES.get(code, "Unknown error")
        error = {"message": title if code == 190 else f"(#{code}) {title}",
                 "type": "OAuthException", "code": code, "fbtrace_id": self._fbtrace_id()}
        if subcode is not None:
            error["error_subcode"] = subcode
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return web.json_response({"error": error}, status=status)

    def _refuse(self, refusal, to=None):
        self.refused.append({"status": refusal.status, "code": refusal.code,
                             "details": refusal.details, "to": to})
        return self._error(refusal.status, refusal.code, refusal.details, refusal.subcode)

    def _new_wamid(self, to):
        unique = next(self._ids).to_bytes(6, "big") + self.random.randbytes(6)
        return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + to.encode()[-15:]
                                           + unique).decode()

    async def _send(self, request):
        self.requests += 1
        # Read before any waiting: a message held or slowed here is still taken after the
        # client gave up, as the platform may accept what a timed-out client sent.
        raw = await request.read()
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.hold_after is not None and len(self.messages) >= self.hold_after:
            await self._released.wait()
        if not _VERSION.fullmatch(request.match_info["version"]):
            return self._refuse(Refusal(400, 2500, "Unknown path components: "
                                        + request.match_info["version"]))
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not hmac.compare_digest(
                header[7:].encode(), self.access_token.encode()):
            return self._refuse(Refusal(401, 190, "The access token could not be decrypted"))
        if request.match_info["phone_number_id"] != self.phone_number_id:
            return self._refuse(Refusal(
                400, INVALID_PARAMETER, f"Unsupported post request. Object with ID "
                f"'{request.match_info['phone_number_id']}' does not exist", subcode=33))
        injected = self._injected()
        if injected == "hang":
            await self._unhang.wait()
            injected = "drop"
        elif injected and injected[0] == "slow":
            await asyncio.sleep(injected[1])
            injected = None
        if injected == "drop":
            request.transport.abort()
            return web.Response(status=500)
        if injected == "garbage":
            return web.Response(text="<html>gateway</html>", content_type="text/html")
        if injected and injected[1] is None:
            return web.Response(status=injected[0])
        if injected:
            status, code = injected
            return self._refuse(Refusal(status, code, "Injected fault"))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._refuse(Refusal(400, INVALID_PARAMETER, "The request body is not a "
                                        "JSON object"))
        try:
            record = self._check(body)
        except Refusal as refusal:
            return self._refuse(refusal, body.get("to"))
        to = record["to"]
        if to in self.recipient_errors:
            status, code = self.recipient_errors[to]
            return self._refuse(Refusal(status, code, "Injected recipient error"), to)
        now = time.time()
        if self.pair_limit:
            recent = self._recent.setdefault(to, deque())
            while recent and recent[0] <= now - self.pair_limit_seconds:
                recent.popleft()
            if len(recent) >= self.pair_limit:
                return self._refuse(Refusal(400, PAIR_LIMIT, "Message failed to send because "
                                            "there were too many messages sent from this phone "
                                            "number to the same phone number in a short period "
                                            "of time."), to)
            recent.append(now)
        record["outside_window"] = self._outside_window(record, now)
        record["limited"] = not self._within_limit(record, now)
        wamid = self._new_wamid(to)
        record.update(id=wamid, json=body, received_at=now)
        self.messages.append(record)
        self.by_id[wamid] = record
        self.per_second[int(now)] += 1
        self.to_counts[to] += 1
        self.first_sent.setdefault(to, now)
        self.type_counts[record["type"]] += 1
        if record["limited"]:
            self.limited.append(wamid)
        if record["link"]:
            # As Meta: taken now, fetched after, and failed when it is not what it claims.
            task = self._loop.create_task(self._judge_media(record))
            self._media_tasks.add(task)
            task.add_done_callback(self._media_tasks.discard)
        else:
            self._schedule_statuses(record)
        return web.json_response({"messaging_product": "whatsapp",
                                  "contacts": [{"input": body["to"], "wa_id": to}],
                                  "messages": [{"id": wamid}]})

    def _within_limit(self, record, now):
        """Whether WhatsApp's messaging limit lets this message through; a template to someone
        outside their window counts them as reached."""
        to = record["to"]
        if record["type"] != "template":
            return True
        wrote = self.last_inbound.get(to)
        if self.service_window_seconds is not None and wrote is not None \
                and now - wrote <= self.service_window_seconds:
            return True     # inside the window: not business-initiated
        if self.messaging_limit is not None:
            reached = self.reached_since(now)
            if to not in reached and len(reached) >= self.messaging_limit:
                return False
        self.reached[to] = now
        return True

    def reached_since(self, now=None):
        """The numbers (digits) templates reached outside their window within the messaging
        limit's time up to ``now``."""
        now = time.time() if now is None else now
        return {to for to, when in self.reached.items()
                if when > now - self.messaging_limit_seconds}

    def _outside_window(self, record, now):
        """True for a free-form message to a number that has not written within the window."""
        if record["type"] == "template" or self.service_window_seconds is None:
            return False
        wrote = self.last_inbound.get(record["to"])
        return wrote is None or now - wrote > self.service_window_seconds

    async def _unknown_path(self, request):
        return self._refuse(Refusal(400, 2500, f"Unknown path components: {request.path}"))

    def _injected(self):
        if self.error_queue:
            return self.error_queue.pop(0)
        if not (self.rate_130429 or self.rate_500 or self.rate_drop):
            return None
        roll = self.random.random()
        if roll < self.rate_130429:
            return (400, 130429)
        if roll < self.rate_130429 + self.rate_500:
            return (500, 131000)
        if roll < self.rate_130429 + self.rate_500 + self.rate_drop:
            return "drop"
        return None

    def _check(self, body):
        """The message as Meta reads it, as a record; or Refusal."""
        def invalid(details):
            return Refusal(400, INVALID_PARAMETER, details)

        if body.get("messaging_product") != "whatsapp":
            raise invalid("messaging_product must be 'whatsapp'")
        if body.get("recipient_type", "individual") != "individual":
            raise invalid("recipient_type must be 'individual'")
        to = body.get("to")
        if not isinstance(to, str) or not _DIGITS.fullmatch(to):
            raise invalid("to must be the recipient's number in 6 to 15 digits")
        kind = body.get("type", "text")
        if kind not in MESSAGE_TYPES:
            raise invalid(f"type must be one of {', '.join(MESSAGE_TYPES)}")
        for other in MESSAGE_TYPES:
            if other != kind and other in body:
                raise invalid(f"'{other}' is not expected for a message of type '{kind}'")
        content = body.get(kind)
        if not isinstance(content, dict):
            raise invalid(f"Parameter '{kind}' is required and must be an object")
        context = body.get("context")
        if context is not None and not (isinstance(context, dict)
                                        and isinstance(context.get("message_id"), str)):
            raise invalid("context must be an object with a message_id")
        record = {"to": to, "type": kind, "text": None, "template": None, "language": None,
                  "parameters": None, "link": None, "caption": None, "buttons": None}
        if kind == "text":
            text = content.get("body")
            if not isinstance(text, str) or not text:
                raise invalid("text.body must be a non-empty string")
            if len(text) > TEXT_LIMIT:
                raise invalid(f"text.body is {len(text)} characters long, at most "
                              f"{TEXT_LIMIT} are allowed")
            if not isinstance(content.get("preview_url", False), bool):
                raise invalid("text.preview_url must be a boolean")
            record["text"] = text
        elif kind == "template":
            record.update(self._check_template(content))
        elif kind == "interactive":
            record.update(self._check_interactive(content))
        else:
            link = content.get("link")
            if not isinstance(link, str) or not re.fullmatch(r"https?://[^\s/]+\S*", link):
                raise invalid(f"{kind}.link must be an http or https URL (this fake has no "
                              "uploaded media ids)")
            caption = content.get("caption")
            if caption is not None and (not isinstance(caption, str)
                                        or len(caption) > CAPTION_LIMIT):
                raise invalid(f"{kind}.caption must be a string of at most {CAPTION_LIMIT} "
                              "characters")
            if kind == "document" and not isinstance(content.get("filename", ""), str):
                raise invalid("document.filename must be a string")
            record.update(link=link, caption=caption, filename=content.get("filename"))
        return record

    @staticmethod
    def _check_interactive(interactive):
        """Reply buttons, as Meta takes them: a body of at most 1,024 characters, one to three
        buttons, each a reply with an id (at most 256) and a title (at most 20), both unique."""
        def invalid(details):
            return Refusal(400, INVALID_PARAMETER, details)

        if interactive.get("type") != "button":
            raise invalid("interactive.type must be 'button' (this fake knows reply buttons)")
        body = interactive.get("body")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text or len(text) > INTERACTIVE_BODY_LIMIT:
            raise invalid(f"interactive.body.text must be a string of 1 to "
                          f"{INTERACTIVE_BODY_LIMIT} characters")
        action = interactive.get("action")
        buttons = action.get("buttons") if isinstance(action, dict) else None
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= MOST_BUTTONS:
            raise invalid(f"interactive.action.buttons must hold 1 to {MOST_BUTTONS} buttons")
        ids, titles = [], []
        for index, button in enumerate(buttons):
            reply = button.get("reply") if isinstance(button, dict) else None
            if not isinstance(button, dict) or button.get("type") != "reply" \
                    or not isinstance(reply, dict):
                raise invalid(f"button {index} must be {{\"type\": \"reply\", \"reply\": …}}")
            button_id, title = reply.get("id"), reply.get("title")
            if not isinstance(button_id, str) or not button_id.strip() \
                    or len(button_id) > BUTTON_ID_LIMIT:
                raise invalid(f"button {index}: id must be 1 to {BUTTON_ID_LIMIT} characters")
            if not isinstance(title, str) or not title.strip() or len(title) > TITLE_LIMIT:
                raise invalid(f"button {index}: title must be 1 to {TITLE_LIMIT} characters")
            ids.append(button_id)
            titles.append(title)
        if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
            raise invalid("buttons must have unique ids and titles")
        return {"text": text, "buttons": list(zip(ids, titles))}

    def _check_template(self, template):
        def invalid(details):
            return Refusal(400, INVALID_PARAMETER, details)

        name = template.get("name")
        language = template.get("language")
        if not isinstance(name, str) or not name:
            raise invalid("template.name must be a non-empty string")
        if not isinstance(language, dict) or not isinstance(language.get("code"), str):
            raise invalid("template.language must be an object with a code")
        if language.get("policy", "deterministic") != "deterministic":
            raise invalid("template.language.policy must be 'deterministic'")
        code = language["code"]
        languages = self._templates.get(name)
        if languages is None or code not in languages:
            raise Refusal(404, TEMPLATE_MISSING,
                          f"template name ({name}) does not exist in {code}")
        components = template.get("components", [])
        if not isinstance(components, list):
            raise invalid("template.components must be a list")
        parameters = None
        buttons = self._template_buttons.get(name, 0)
        header = self._template_headers.get(name)
        media = None
        payloads = {}
        for component in components:
            if isinstance(component, dict) and component.get("type") == "button" and buttons:
                payloads.update(self._check_button(component, buttons, payloads))
                continue
            if isinstance(component, dict) and component.get("type") == "header" and header:
                if media is not None:
                    raise invalid("template.components holds more than one header")
                media = self._check_header(component, header, name)
                continue
            if not isinstance(component, dict) or component.get("type") != "body":
                # The templates this fake knows have a body (and quick-reply buttons where
                # configured) and nothing else to fill in.
                raise Refusal(400, PARAMETER_COUNT, "Only body parameters are expected "
                              f"for template {name}")
            if parameters is not None:
                raise invalid("template.components holds more than one body")
            parameters = component.get("parameters", [])
            if not isinstance(parameters, list):
                raise invalid("components.parameters must be a list")
        parameters = parameters or []
        texts = []
        for index, parameter in enumerate(parameters, 1):
            if not isinstance(parameter, dict) or parameter.get("type") != "text" \
                    or not isinstance(parameter.get("text"), str):
                raise invalid(f"body parameter {index} must be {{\"type\": \"text\", "
                              "\"text\": string}")
            texts.append(parameter["text"])
        expected = languages[code]
        if len(texts) != expected:
            raise Refusal(400, PARAMETER_COUNT,
                          f"body: number of localizable_params ({len(texts)}) does not match "
                          f"the expected number of params ({expected})")
        for text in texts:
            reason = parameter_refusal(text)
            if reason:
                raise invalid(reason)
        if header and media is None:
            raise Refusal(400, PARAMETER_COUNT, f"header: number of parameters (0) does not "
                          f"match the expected number of params (1): template {name} has a "
                          f"{header} header")
        # The whole body as sent, after each parameter's own rules (the header is no part).
        reason = template_bodies.too_long(
            self._template_bodies[name, code],
            {str(number): text for number, text in enumerate(texts, 1)})
        if reason:
            raise Refusal(400, BODY_TOO_LONG, f"template {name}: {reason}")
        if media is not None:
            # Fetched and judged as a message of the header's kind would be.
            return {"template": name, "language": code, "parameters": texts, "buttons": None,
                    "header": header, "link": media["link"],
                    "filename": media.get("filename")}
        return {"template": name, "language": code, "parameters": texts,
                "buttons": [payloads[index] for index in sorted(payloads)] if buttons else None}

    @staticmethod
    def _check_header(component, header, name):
        """A media header's parameter: exactly one, of the template's header kind, with a
        link (a document also with an optional filename). → the media object."""
        parameters = component.get("parameters")
        if not isinstance(parameters, list) or len(parameters) != 1 \
                or not isinstance(parameters[0], dict):
            raise Refusal(400, PARAMETER_COUNT, f"header: number of parameters does not match "
                          f"the expected number of params (1) for template {name}")
        parameter = parameters[0]
        kind = parameter.get("type")
        if kind != header:
            raise Refusal(400, PARAMETER_FORMAT, f"header: parameter of type {kind!r} does not "
                          f"match the format of template {name} ({header.upper()})")
        media = parameter.get(kind)
        link = media.get("link") if isinstance(media, dict) else None
        if not isinstance(link, str) or not re.fullmatch(r"https?://[^\s/]+\S*", link):
            raise Refusal(400, PARAMETER_COUNT, f"header: the {kind} parameter needs a link "
                          "(an http or https URL; this fake has no uploaded media ids)")
        if set(media) - {"link", "filename"} or (
                "filename" in media and (kind != "document"
                                         or not isinstance(media["filename"], str))):
            raise Refusal(400, INVALID_PARAMETER, f"header: {kind} takes a link"
                          + (" and a filename" if kind == "document" else ""))
        return media

    @staticmethod
    def _check_button(component, buttons, seen):
        """One quick-reply button's parameter of a template: {index: payload}."""
        def invalid(details):
            return Refusal(400, INVALID_PARAMETER, details)

        if component.get("sub_type") != "quick_reply":
            raise invalid("button.sub_type must be 'quick_reply' for this template's buttons")
        index = component.get("index")
        if isinstance(index, str) and index.isdigit():
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < buttons:
            raise invalid(f"button.index must be 0 to {buttons - 1}")
        if index in seen:
            raise invalid(f"button {index} is given twice")
        parameters = component.get("parameters")
        if not isinstance(parameters, list) or len(parameters) != 1 \
                or not isinstance(parameters[0], dict) or parameters[0].get("type") != "payload" \
                or not isinstance(parameters[0].get("payload"), str) \
                or not parameters[0]["payload"] or len(parameters[0]["payload"]) > PAYLOAD_LIMIT:
            raise invalid(f"button {index}: parameters must be one {{\"type\": \"payload\", "
                          f"\"payload\": string of at most {PAYLOAD_LIMIT}}}")
        return {index: parameters[0]["payload"]}

    # -- statuses posted back ----------------------------------------------------------------

    async def _judge_media(self, record):
        key = (record.get("header") or record["type"], record["link"])
        if key not in self.media_verdicts:
            self.media_verdicts[key] = await fake_media.meta_refusal(*key)
        record["media_refused"] = self.media_verdicts[key]
        self._schedule_statuses(record)

    def _schedule_statuses(self, record):
        to = record["to"]
        if record.get("outside_window"):
            # Meta takes it and reports it failed: re-engagement needs a template.
            names, code = ["failed"], OUTSIDE_WINDOW
        elif record.get("media_refused"):
            names, code = ["failed"], MEDIA_UPLOAD
        elif record.get("limited"):
            names, code = ["failed"], MESSAGING_LIMIT
        elif to in self.recipient_failures:
            names, code = ["failed"], self.recipient_failures[to]
        elif self.callback_failures:
            names, code = ["sent", "failed"], self.callback_failures.pop(0)
        else:
            names, code = list(self.statuses), None
            if self.callback_shuffle:
                self.random.shuffle(names)
        record["error_code"] = code
        if not names or not self.webhook_url:
            record["expected"] = []
            return
        record["expected"] = names
        self.expected_counts.update(set(names))
        names = names * max(1, int(self.callback_repeat))
        self.webhook_posts["statuses_scheduled"] += len(names)
        if not self.callback_spacing:
            self._later(self.callback_delay, self._enqueue, record, names)
            return
        for index, name in enumerate(names):
            self._later(self.callback_delay + index * self.callback_spacing,
                        self._enqueue, record, [name])

    def _later(self, delay, function, *args):
        if not delay:
            function(*args)
            return

        def run():
            self._scheduled.discard(handle)
            function(*args)

        handle = self._loop.call_later(delay, run)
        self._scheduled.add(handle)

    def _status(self, record, name):
        now = int(time.time())
        status = {"id": record["id"], "status": name, "timestamp": str(now),
                  "recipient_id": record["to"]}
        if name in ("sent", "delivered"):
            template = record["type"] == "template"
            category = self.template_category if template else "service"
            conversation = {"id": hashlib.md5(record["to"].encode()).hexdigest(),
                            "origin": {"type": category}}
            if name == "sent":
                conversation["expiration_timestamp"] = str(now + 86400)
            status["conversation"] = conversation
            status["pricing"] = {"billable": template, "pricing_model": "PMP",
                                 "category": category,
                                 "type": "regular" if template else "free_customer_service"}
        elif name == "failed":
            code = record["error_code"] or 131000
            title = TITLES.get(code, "Unknown error")
            status["errors"] = [{"code": code, "title": title, "message": title,
                                 "error_data": {"details": title},
                                 "href": "https://developers.facebook.com/docs/whatsapp/"
                                         "cloud-api/support/error-codes/"}]
        return status

    def _enqueue(self, record, names):
        self._outbox.extend(self._status(record, name) for name in names)
        batch = max(1, int(self.webhook_batch))
        while len(self._outbox) >= batch:
            chunk, self._outbox = self._outbox[:batch], self._outbox[batch:]
            self._post_statuses(chunk)
        if self._outbox and self._timer is None:
            self._timer = self._loop.call_later(self.webhook_batch_seconds, self._flush)

    def _flush(self):
        self._timer = None
        chunk, self._outbox = self._outbox, []
        if chunk:
            self._post_statuses(chunk)

    @staticmethod
    def _split(items, parts):
        """``items`` in at most ``parts`` non-empty runs, in order."""
        parts = max(1, min(int(parts), len(items)))
        size, extra = divmod(len(items), parts)
        runs, start = [], 0
        for index in range(parts):
            end = start + size + (index < extra)
            runs.append(items[start:end])
            start = end
        return runs

    def _metadata(self):
        return {"display_phone_number": self.display_phone_number,
                "phone_number_id": self.phone_number_id}

    def status_body(self, message_id, status, error_code=None):
        """One status of an accepted message as the bytes of Meta's webhook, posted by the
        caller (sign it with sign()): for a test that chooses when and in which order."""
        record = dict(self.by_id[message_id], error_code=error_code)
        value = {"messaging_product": "whatsapp", "metadata": self._metadata(),
                 "statuses": [self._status(record, status)]}
        return json.dumps(self._envelope([[value]]), separators=(",", ":")).encode()

    def _envelope(self, values):
        """A webhook body: ``values`` (lists of change values) grouped into entries."""
        return {"object": "whatsapp_business_account",
                "entry": [{"id": self.waba_id,
                           "changes": [{"field": "messages", "value": value}
                                       for value in changes]}
                          for changes in values]}

    def _post_statuses(self, chunk):
        metadata = self._metadata()
        values = [[{"messaging_product": "whatsapp", "metadata": metadata, "statuses": run}
                   for run in self._split(entry, self.webhook_changes)]
                  for entry in self._split(chunk, self.webhook_entries)]
        keys = [(status["id"], status["status"]) for status in chunk]
        self._deliver(self._envelope(values), keys, self.webhook_posts, "pending")

    def _deliver(self, body, keys, counters, pending, on_answer=None):
        task = self._loop.create_task(self._post_until_200(
            json.dumps(body, separators=(",", ":")).encode(), keys, counters, on_answer))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        waiting = self._waiting[pending]
        waiting.add(task)
        task.add_done_callback(waiting.discard)
        return task

    def sign(self, body):
        """The ``X-Hub-Signature-256`` value Meta sends with ``body`` (bytes)."""
        digest = hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        return "sha256=" + digest

    async def _post_until_200(self, body, keys, counters, on_answer):
        """POST one webhook until the app answers 200, waiting longer each time, and give up
        after ``retry_for`` seconds, as Meta does (over days there, seconds here)."""
        headers = {"User-Agent": "facebookexternalua", "Content-Type": "application/json",
                   "X-Hub-Signature-256": self.sign(body)}
        started = self._loop.time()
        wait = self.retry_seconds
        attempt = 0
        while True:
            answer = await self._post(body, headers)
            counters["posted"] += 1
            if attempt:
                counters["retried"] += 1
            else:
                counters["statuses_posted"] += len(keys)
            if on_answer is None:
                self.webhook_answers[answer] += 1
            else:
                on_answer(answer)
            if answer == 200:
                counters["answered_200"] += 1
                self._acknowledge(keys)
                return
            counters["failed"] += 1
            if self._loop.time() - started + wait > self.retry_for:
                counters["given_up"] += 1
                return
            await asyncio.sleep(wait)
            wait = min(wait * 2, self.retry_cap)
            attempt += 1

    async def _post(self, body, headers):
        """The app's HTTP status for one POST, or "error" / "timeout"."""
        try:
            return await self._poster.post(self.webhook_url, body, headers,
                                           self.webhook_timeout)
        except asyncio.TimeoutError:
            return "timeout"
        except (OSError, ValueError):
            return "error"

    def _acknowledge(self, keys):
        for wamid, name in keys:
            seen = self.acknowledged.setdefault(wamid, set())
            if name not in seen:
                seen.add(name)
                self.acknowledged_counts[name] += 1

    def missing(self):
        """{status: messages whose status was to be posted but never answered 200}; counted as
        they happen, so that a benchmark may ask often."""
        return {name: expected - self.acknowledged_counts[name]
                for name, expected in self.expected_counts.items()
                if expected > self.acknowledged_counts[name]}

    def missing_ids(self, limit=5):
        """Up to ``limit`` ids of messages with a status never answered 200."""
        sample = []
        empty = frozenset()
        for record in self.messages:
            expected = record.get("expected")
            if not expected:
                continue
            seen = self.acknowledged.get(record["id"], empty)
            if any(name not in seen for name in expected):
                sample.append(record["id"])
                if len(sample) >= limit:
                    break
        return sample

    # -- inbound messages --------------------------------------------------------------------

    def inbound_body(self, from_digits, text=None, kind="text", replied_to=None, emoji=None,
                     message_id=None, name="Erika Mustermann", payload=None):
        """A messages webhook as Meta posts it for one message from a citizen."""
        from_digits = str(from_digits).removeprefix("+")
        if not _DIGITS.fullmatch(from_digits):
            raise ValueError("from_digits must be a number in 6 to 15 digits")
        message = {"from": from_digits, "id": message_id or self._new_wamid(from_digits),
                   "timestamp": str(int(time.time())), "type": kind}
        context = {"from": self.display_phone_number, "id": replied_to} if replied_to else None
        if kind == "text":
            message["text"] = {"body": text or ""}
        elif kind == "button":
            # A template's quick-reply button: the payload we gave it (its text without one).
            message["button"] = {"payload": payload or text, "text": text}
        elif kind == "interactive":
            message["interactive"] = {"type": "button_reply", "button_reply": {
                "id": payload or f"button-{text}", "title": text}}
        elif kind == "reaction":
            # Taking a reaction back sends the same without an emoji.
            message["reaction"] = {"message_id": replied_to}
            if emoji is not None:
                message["reaction"]["emoji"] = emoji
            context = None
        elif kind in ("image", "video", "document", "audio", "sticker"):
            media = {"mime_type": {"image": "image/jpeg", "video": "video/mp4",
                                   "document": "application/pdf", "audio": "audio/ogg",
                                   "sticker": "image/webp"}[kind],
                     "sha256": base64.b64encode(hashlib.sha256(
                         message["id"].encode()).digest()).decode(),
                     "id": str(next(self._ids) + 10 ** 15)}
            if text:
                media["caption"] = text
            message[kind] = media
        else:
            message[kind] = {}
        if context:
            message["context"] = context
        value = {"messaging_product": "whatsapp", "metadata": self._metadata(),
                 "contacts": [{"profile": {"name": name}, "wa_id": from_digits}],
                 "messages": [message]}
        return self._envelope([[value]])

    async def _post_inbound(self, wait=True, **fields):
        if not self.webhook_url:
            raise RuntimeError("no webhook_url to post to")
        body = self.inbound_body(**fields)
        message = body["entry"][0]["changes"][0]["value"]["messages"][0]
        # Every answer to every post is kept, so that a test sees the re-posts too.
        record = {"id": message["id"], "from": message["from"], "kind": message["type"],
                  "body": body, "answers": []}
        self.inbound.append(record)
        self.last_inbound[record["from"]] = time.time()
        answered = self._loop.create_future()

        def on_answer(answer):
            record["answers"].append(answer)
            if not answered.done():
                answered.set_result(answer)

        self._deliver(body, [], self.inbound_posts, "inbound_pending", on_answer)
        if not wait:
            return record["id"], None
        return record["id"], await answered

    def post_inbound(self, from_digits, text=None, kind="text", replied_to=None, emoji=None,
                     message_id=None, name="Erika Mustermann", payload=None):
        """Post one citizen's message to ``webhook_url``, signed, and return the HTTP status of
        the first answer ("error"/"timeout" if none); it is posted again until answered 200."""
        fields = dict(from_digits=from_digits, text=text, kind=kind, replied_to=replied_to,
                      emoji=emoji, message_id=message_id, name=name, payload=payload)
        future = asyncio.run_coroutine_threadsafe(self._post_inbound(**fields), self._loop)
        return future.result(self.webhook_timeout + 10)[1]

    # -- steering over HTTP (benchmarks) -----------------------------------------------------

    def stats(self, details=False):
        result = {
            "messages": len(self.messages), "requests": self.requests,
            "per_second": sorted(self.per_second.items()),
            "first_at": self.messages[0]["received_at"] if self.messages else None,
            "last_at": self.messages[-1]["received_at"] if self.messages else None,
            "to": self.to_counts.most_common(3),
            "types": self.type_counts,
            "refused": Counter(str(refusal["code"]) for refusal in self.refused),
            "limited": len(self.limited), "reached": len(self.reached_since()),
            # Status POSTs by the app's answer (an HTTP status, "error" or "timeout"), as
            # fake_twilio's "callbacks"; and what became of them.
            "webhooks": {str(key): value for key, value in self.webhook_answers.items()},
            "webhook_posts": dict(self.webhook_posts, pending=self.pending),
            "webhooks_given_up": self.webhook_posts["given_up"],
            "statuses_posted": self.webhook_posts["statuses_posted"],
            "acknowledged": dict(self.acknowledged_counts),
            "missing": self.missing(),
            "inbound": dict(self.inbound_posts, pending=self.inbound_pending,
                            messages=len(self.inbound)),
        }
        if details:
            result["missing_sample"] = self.missing_ids()
            result["message_records"] = self.messages
            result["acks"] = {wamid: sorted(names) for wamid, names in self.acknowledged.items()}
            result["refusals"] = self.refused
        return result

    async def _stats(self, request):
        details = request.query.get("details") in ("1", "true")
        return web.json_response(self.stats(details))

    async def _config(self, request):
        data = await request.json()
        settings = {ALIASES.get(key, key): value for key, value in data.items()}
        unknown = set(settings) - set(SETTINGS) - {"access_token"}
        if unknown:
            return web.json_response({"error": f"unknown settings: {sorted(unknown)}"},
                                     status=400)
        if "access_token" in settings:
            self.access_token = settings.pop("access_token")
        connections = settings.get("webhook_connections", self.webhook_connections)
        hold_after = settings.pop("hold_after", self.hold_after)
        try:
            template_bodies_of(settings.get("templates", {}))
        except (AttributeError, TypeError, ValueError) as error:
            return web.json_response({"error": f"templates: {error}"}, status=400)
        self._apply(settings)
        if connections != self._poster.limit:
            old, self._poster = self._poster, KeptAlivePoster(connections)
            old.close()
        if hold_after is None:
            self.release()
        else:
            self.hold_after = hold_after
            self._released.clear()
        return web.json_response({"ok": True})

    async def _sent(self, request):
        """How many messages went to numbers starting with ``to`` (digits) after ``since``
        (seconds since the epoch), and when the last of them came."""
        prefix = request.query.get("to", "")
        since = float(request.query.get("since", 0))
        count, last_at = 0, None
        for record in self.messages:
            if record["received_at"] > since and record["to"].startswith(prefix):
                count += 1
                last_at = record["received_at"]
        return web.json_response({"messages": count, "last_at": last_at})

    async def _first_sent(self, request):
        """When the first message to each number of ``to`` (digits) came, or null."""
        numbers = (await request.json()).get("to", [])
        return web.json_response({to: self.first_sent.get(to) for to in numbers})

    async def _reset(self, request):
        self._reset_on_loop()
        return web.json_response({"ok": True})

    async def _inbound(self, request):
        data = await request.json()
        fields = {"from_digits": data.get("from"), "text": data.get("text"),
                  "kind": data.get("kind", "text"), "replied_to": data.get("replied_to"),
                  "emoji": data.get("emoji"), "message_id": data.get("message_id"),
                  "name": data.get("name", "Erika Mustermann")}
        try:
            message_id, answer = await self._post_inbound(wait=data.get("wait", True), **fields)
        except (ValueError, RuntimeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response({"id": message_id, "status": answer})


def quiet_collector():
    """Only young objects for Python's cyclic garbage collector, in the fake's own process.

    A benchmark's fake keeps every message it took and every receipt the app acknowledged to
    the end: at 40,000 messages some millions of objects, which each full collection walked,
    every two seconds or so, for 0.3 s at 40,000 and longer as the run grew. Meanwhile
    nothing was answered: the platform stood still, a hiccup the real one does not have, and
    the sender's messages of those moments were lost to the storm night's clock. Young
    objects are still collected (what a request leaves behind); what outlives two young
    collections is the fake's records, kept anyway, or freed by reference counting.
    """
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 2 ** 30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--webhook-url")
    parser.add_argument("--statuses", default="", help="e.g. sent,delivered,read")
    parser.add_argument("--webhook-batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--access-token", default=ACCESS_TOKEN)
    parser.add_argument("--app-secret", default=APP_SECRET)
    parser.add_argument("--phone-number-id", default=PHONE_NUMBER_ID)
    args = parser.parse_args()
    fake = FakeMeta(access_token=args.access_token, app_secret=args.app_secret,
                    phone_number_id=args.phone_number_id,
                    port=args.port, seed=args.seed, latency=args.latency,
                    webhook_url=args.webhook_url, webhook_batch=args.webhook_batch,
                    statuses=[name for name in args.statuses.split(",") if name])

    quiet_collector()

    async def run():
        await fake._start_async()
        print(f"fake Meta on {fake.url}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop  # a benchmark's fake should leave the CPU to what it measures
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


if __name__ == "__main__":
    main()
