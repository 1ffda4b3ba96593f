"""A fake Twilio REST API on loopback, for tests and benchmarks.

The real ``twilio`` client talks HTTP to it. It checks Basic auth, accepts
``POST /2010-04-01/Accounts/<sid>/Messages.json``, answers with Twilio-shaped JSON (and
Twilio-shaped error bodies), and can be told to be slow, to answer 429/500, to drop connections,
to refuse given recipients with given error codes, and to send signed status callbacks back.

Template messages (``ContentSid``) are held to WhatsApp's rule as the platform holds them: a
variable with a line break or a tab, more than four spaces in a row, nothing in it, or more
than 1,024 characters, and variables that are not the ones the template takes, are accepted by
the REST call and then fail with a ``failed`` status callback (63013, 63028); variables that are
not a JSON object of strings are refused at once (21656). ``templates`` says how many variables
each content SID takes; one it does not name takes one (``{{1}}``). A media content
(``media_contents``: content SID → (header kind, its address with ``{{2}}``)) takes the text as
``{{1}}`` and the file's name as ``{{2}}``; the completed address is fetched as a MediaUrl
would be and fails the message when the file is not of the header's kind. A quick-reply content
(``quick_replies``: content SID → its number of buttons, or a ``QuickReply``) is held to what
WhatsApp approves: the buttons' titles are fixed at approval (no variable in a title, at most
20 characters), so the answers stand in the body, which is ``{{1}}`` (the text), then each
answer, in fixed words; then each button's id is a variable (``1 + 2 × buttons`` variables).
An id holds at most 200 characters (63013), and a content at most three buttons (a session
message takes no more).

Every template's body as sent (its own words with the variables filled in) holds at most 1,024
characters: a longer one is accepted by the REST call and then fails with a ``failed`` status
callback (63021, "Channel invalid content error"), after the checks of each variable above,
which are more specific. A text or media content's body is ``template_bodies[sid]`` (its own
words with its variables; a media content's holds the text's ``{{1}}``, as the file's ``{{2}}``
stands in the header's address), else the one the operator docs recommend:
``Infokanal Landkreis Musterstadt:`` and ``Abmelden: „Stop“ senden.`` around its variables,
each a paragraph of its own (``default_body``, 60 characters of its own words for one
variable); a quick-reply content's is its ``QuickReply.body``.

WhatsApp's messaging limit can be set (``messaging_limit``, off unless set): template messages
reach at most that many different numbers within ``messaging_limit_seconds`` (24 hours, rolling),
and a number reached within that time does not count again. A template to one more number is
accepted by the REST call and then fails with a ``failed`` status callback (63018), as Twilio
reports the limit; it never counts as sent. ``reached`` says whom templates reached and when,
``limited`` which messages the limit stopped, ``delivered`` which the fake reported delivered.

Twilio's Event Streams webhook sink can stand in for the status callbacks (``event_sink``: the
sink's destination URL, None: off): each status of ``callbacks`` becomes a CloudEvent
(``com.twilio.messaging.message.<status>``, ``data.messageStatus`` in capitals), events are
batched (``sink_batch_size`` or ``sink_batch_seconds``, whichever comes first) and posted as a
JSON array, signed as Twilio signs it (``X-Twilio-Signature`` over the URL with the body's
SHA-256 as ``bodySHA256``). A post not answered 2xx within ``sink_timeout`` (Twilio: 5 s) is
posted again with growing pauses (``sink_backoff`` doubling up to ``sink_backoff_max``) for up
to ``sink_retry_seconds`` (Twilio: four hours), then dropped, as Twilio drops it. At least
once: ``sink_duplicates`` is the share of acknowledged posts sent once more. A message sent
with a ``StatusCallback`` gets its callbacks as well, as on Twilio. ``sink_acknowledged`` holds
the ids of the events answered 2xx, ``sink_events`` every event made, ``sink_results`` the
answers.

A message's media (``MediaUrl``) is fetched after the REST call took it, as Twilio does, when
it lies on loopback (``fake_media``): more than one file, a type WhatsApp does not take, more
than its size limit or an address that cannot be fetched fail it with a ``failed`` status
callback (12300, 11751, 63019).

In tests: ``FakeTwilio(...).start()`` runs it in a thread. For benchmarks:
``python -m tests.fake_twilio --port 8790 --latency 0.15`` runs it as its own process; it is then
steered over ``/_fake/*`` (JSON).
"""

import argparse
import asyncio
import base64
import hashlib
import json
import random
import secrets
import threading
import time
from collections import Counter
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests import fake_media, template_bodies
from tests.template_bodies import check_body, default_body

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-not-a-real-one"
# WhatsApp's limit for one template variable.
VARIABLE_LIMIT = 1024
# Twilio's quick-reply content: a button's title and id at most, and buttons in a session.
TITLE_LIMIT, BUTTON_ID_LIMIT, SESSION_BUTTONS = 20, 200, 3
CHANNEL_POLICY = 63013      # a variable WhatsApp refuses
# The body as sent (the template's own words and its variables) is longer than WhatsApp takes.
# Like 63013 it fails every message of that text the same way: never worth a retry.
BODY_LENGTH = 63021
PARAMETER_COUNT = 63028     # not the variables the template takes
INVALID_VARIABLES = 21656   # ContentVariables is not a JSON object of strings
MESSAGING_LIMIT = 63018     # WhatsApp's limit of different people reached per 24 hours
DAY = 86400.0
# Why Twilio fails a WhatsApp message for its media (``fake_media``): it could not be fetched
# (63019), it is of a type WhatsApp does not take (12300), or it is larger than allowed (11751).
MEDIA_CODES = {fake_media.UNREACHABLE: 63019, fake_media.WRONG_TYPE: 12300,
               fake_media.TOO_LARGE: 11751}
# Every way of breaking a line (Python's own list, which holds WhatsApp's newline), and a tab.
_LINE_BREAKS = frozenset("\n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def template_refusal(variables, expected):
    """Why WhatsApp refuses these variables for a template taking ``expected`` of them:
    (error code, reason), or None."""
    if set(variables) != {str(number) for number in range(1, expected + 1)}:
        return PARAMETER_COUNT, f"variables {sorted(variables)} for a template of {expected}"
    for name, value in sorted(variables.items()):
        if not value.strip():
            return CHANNEL_POLICY, f"variable {name} is empty"
        if _LINE_BREAKS & set(value):
            return CHANNEL_POLICY, f"variable {name} holds a line break or a tab"
        if " " * 5 in value:
            return CHANNEL_POLICY, f"variable {name} holds more than four spaces in a row"
        if len(value) > VARIABLE_LIMIT:
            return CHANNEL_POLICY, f"variable {name} has {len(value)} characters"
    return None


def body_refusal(body, variables):
    """(63021, reason) when ``body`` with these variables is longer than WhatsApp sends, or
    None."""
    reason = template_bodies.too_long(body, variables)
    return (BODY_LENGTH, reason) if reason else None


class QuickReply:
    """An approved quick-reply content: ``body`` with ``{{1}}`` … ``{{1 + buttons}}`` (the
    text, then the answers) among fixed words, and the buttons' fixed ``titles``. WhatsApp
    approves no variable in a button's title, nor a body that begins or ends with one: such a
    content cannot be made (ValueError), as it never gets approved."""

    def __init__(self, buttons, body=None, titles=None):
        self.titles = list(titles or [str(number) for number in range(1, buttons + 1)])
        self.body = body or template_bodies.poll_body(buttons)
        if not 1 <= buttons <= SESSION_BUTTONS or len(self.titles) != buttons:
            raise ValueError(f"a quick-reply content with {buttons} buttons")
        for title in self.titles:
            if "{{" in title or not title.strip() or len(title) > TITLE_LIMIT:
                raise ValueError(f"button title {title!r}: WhatsApp approves only fixed titles "
                                 f"of at most {TITLE_LIMIT} characters")
        check_body(self.body, range(1, 2 + buttons), required=[1])
        self.buttons = buttons

    def rendered(self, variables):
        """The body as the citizen reads it."""
        return template_bodies.rendered(self.body, variables)


def quick_reply_refusal(variables, content):
    """Why WhatsApp refuses these variables of a quick-reply ``content`` (a QuickReply, or its
    number of buttons): text and answers in the body, then the ids; or None. The count and
    single-line rule come first."""
    if not isinstance(content, QuickReply):
        content = QuickReply(content)
    buttons = content.buttons
    refusal = template_refusal(variables, 1 + 2 * buttons)
    if refusal:
        return refusal
    refusal = body_refusal(content.body, variables)
    if refusal:
        return refusal
    for number in range(2 + buttons, 2 + 2 * buttons):
        if len(variables[str(number)]) > BUTTON_ID_LIMIT:
            return CHANNEL_POLICY, f"button id {{{{{number}}}}} is longer than {BUTTON_ID_LIMIT}"
    ids = [variables[str(number)] for number in range(2 + buttons, 2 + 2 * buttons)]
    if len(set(ids)) != len(ids):
        return CHANNEL_POLICY, "two buttons with the same id"
    return None


class FakeTwilio:
    def __init__(self, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, latency=0.0,
                 host="127.0.0.1", port=0, seed=20261124):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._configured_token = auth_token
        self.latency = latency
        self.host = host
        self.port = port
        self.messages = []          # accepted message params, in order
        self.requests = 0           # every Messages.json request, accepted or not
        self.per_second = Counter()  # accepted messages by whole second (time.time())
        self.recipient_errors = {}  # "+49…" → (http status, twilio code)
        # [(http status, code)], "drop", or ("slow", seconds): consumed one per request. A slow
        # request is answered normally after the delay, as Twilio may accept a message after
        # the client has given up waiting.
        self.error_queue = []
        self.rate_429 = 0.0
        self.rate_500 = 0.0
        self.rate_drop = 0.0
        self.callbacks = []         # statuses to send back, e.g. ["sent", "delivered", "read"]
        self.callback_shuffle = False
        self.callback_repeat = 1
        self.callback_error_code = None
        # Error codes for the next accepted messages, one each: such a message gets "sent" and
        # then "failed" with that code instead of ``callbacks`` (e.g. [63018] for WhatsApp's
        # messaging limit, which Twilio often reports only after accepting the message).
        self.callback_failures = []
        self.callback_results = Counter()
        self.templates = {}         # content SID → how many variables it takes (else one)
        # content SID → the approved body of a text or media content, its own words with
        # {{1}}…; one not named has default_body (the operator docs' template)
        self.template_bodies = {}
        self.quick_replies = {}     # content SID → its buttons, or a QuickReply
        # content SID → (header kind, media address with {{2}}): a twilio/media content with
        # the text as {{1}} and the file's name as {{2}}, approved for that kind of header
        self.media_contents = {}
        self.refused = []           # (message sid, error code, reason) of refused messages
        # the MediaUrl values (a tuple) → why WhatsApp would not take them (``fake_media``)
        self.media_verdicts = {}
        self._media_tasks = set()
        # Seconds between accepting a message and posting its callbacks, as the platform takes
        # a moment to deliver; and whether those posts reuse connections (keep-alive). The
        # tests' default closes each one, so no idle connection holds up a server's shutdown.
        self.callback_delay = 0.0
        self.callback_keepalive = False
        self.callback_timeout = 15.0  # the platform gives up on a callback after this long
        self.hold_after = None      # accept this many messages, then keep further sends waiting
        # WhatsApp's messaging limit: different numbers templates reach within
        # messaging_limit_seconds (None: no limit); ``clock`` may be replaced to move time.
        self.messaging_limit = None
        self.messaging_limit_seconds = DAY
        self.clock = time.time
        self.reached = {}           # "+49…" → when a template last went to them (clock)
        self.limited = []           # (message sid, "+49…") the messaging limit stopped
        self.delivered = {}         # message sid → its record, once reported delivered or read
        self._sink_defaults()
        # Shuffles and injected faults come from a seeded generator: a failing run can be
        # replayed exactly (reset() seeds it again).
        self.seed = seed
        self.random = random.Random(seed)
        self._loop = None
        self._runner = None
        self._thread = None
        self._session = None
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def app(self):
        application = web.Application()
        application.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        application.router.add_get("/_fake/stats", self._stats)
        application.router.add_post("/_fake/config", self._config)
        application.router.add_post("/_fake/reset", self._reset)
        return application

    async def _start_async(self):
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._session = self._callback_session()
        self._released = asyncio.Event()
        self._released.set()

    def hold(self, after):
        """Accept ``after`` messages, then keep every further send waiting until release():
        a broadcast that stays half done for as long as a test needs, on any machine."""
        self.hold_after = after
        self._loop.call_soon_threadsafe(self._released.clear)

    def release(self):
        self.hold_after = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._released.set)

    def _callback_session(self):
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512, force_close=not self.callback_keepalive),
            timeout=aiohttp.ClientTimeout(total=self.callback_timeout))

    def start(self):
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start_async())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-twilio", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Twilio did not start")
        return self

    def stop(self):
        if self._loop is None:
            return

        async def shutdown():
            await self._session.close()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset(self):
        with self._lock:
            self.auth_token = self._configured_token
            self.messages.clear()
            self.requests = 0
            self.per_second.clear()
            self.recipient_errors.clear()
            self.error_queue.clear()
            self.rate_429 = self.rate_500 = self.rate_drop = 0.0
            self.callbacks = []
            self.callback_shuffle = False
            self.callback_repeat = 1
            self.callback_error_code = None
            self.callback_failures = []
            self.callback_results.clear()
            self.media_verdicts.clear()
            self.templates.clear()
            self.template_bodies.clear()
            self.quick_replies.clear()
            self.media_contents.clear()
            self.refused.clear()
            self.callback_delay = 0.0
            self.messaging_limit = None
            self.messaging_limit_seconds = DAY
            self.clock = time.time
            self.reached.clear()
            self.limited.clear()
            self.delivered.clear()
            self._sink_defaults()
            self.random.seed(self.seed)
        self.release()

    def _sink_defaults(self):
        self.event_sink = None
        self.sink_batch_size = 50
        self.sink_batch_seconds = 0.2
        self.sink_timeout = 5.0
        self.sink_backoff = 1.0
        self.sink_backoff_max = 60.0
        self.sink_retry_seconds = 4 * 3600.0
        self.sink_duplicates = 0.0
        self.sink_events = []        # every event made, in order
        self.sink_acknowledged = set()  # ids of events answered 2xx
        self.sink_results = Counter()   # answers: status codes, "error", "expired"
        self.sink_in_flight = 0         # batches not yet acknowledged nor dropped
        self._sink_queue = []

    # -- the API ----------------------------------------------------------------------------

    def _authorized(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    @staticmethod
    def _error(status, code, message):
        body = {"code": code, "message": message, "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        return web.json_response(body, status=status)

    async def _create(self, request):
        self.requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.hold_after is not None and len(self.messages) >= self.hold_after:
            await self._released.wait()
        if not self._authorized(request) or request.match_info["account"] != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        injected = self._injected()
        if injected and injected[0] == "slow":
            await asyncio.sleep(injected[1])
            injected = None
        if injected == "drop":
            request.transport.abort()
            return web.Response(status=500)
        if injected:
            status, code = injected
            return self._error(status, code, "Injected fault")
        form = await request.post()
        to = form.get("To", "")
        if not to.startswith("whatsapp:+"):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("Body") and not form.get("ContentSid") and not form.get("MediaUrl"):
            return self._error(400, 21619, "A text message body or media URL must be specified.")
        number = to[len("whatsapp:"):]
        if number in self.recipient_errors:
            status, code = self.recipient_errors[number]
            return self._error(status, code, "Injected recipient error")
        refusal = None
        if form.get("ContentSid"):
            try:
                variables = json.loads(form.get("ContentVariables") or "")
            except ValueError:
                variables = None
            if not isinstance(variables, dict) \
                    or not all(isinstance(value, str) for value in variables.values()):
                return self._error(400, INVALID_VARIABLES,
                                   "The ContentVariables Parameter is invalid.")
            buttons = self.quick_replies.get(form["ContentSid"])
            header = self.media_contents.get(form["ContentSid"])
            if header is not None and form.get("MediaUrl"):
                # The content holds its media address: a MediaUrl besides it is not Twilio's
                # way, and would be sent in place of the approved header.
                return self._error(400, 21619, "MediaUrl cannot be combined with a ContentSid "
                                   "whose content holds media.")
            if buttons is not None:
                refusal = quick_reply_refusal(variables, buttons)
            else:
                taken = 2 if header is not None else self.templates.get(form["ContentSid"], 1)
                refusal = template_refusal(variables, taken) or body_refusal(
                    self.body_of(form["ContentSid"]), variables)
        sid = "SM" + secrets.token_hex(16)
        record = {key: form.getall(key) if key == "MediaUrl" else form.get(key)
                  for key in form.keys()}
        header = self.media_contents.get(form.get("ContentSid") or "")
        if header is not None and not refusal:
            # The media address the approved content names, completed by the variable.
            record["MediaUrl"] = [header[1].replace("{{2}}", variables["2"])]
            record["header"] = header[0]
        record["sid"] = sid
        record["received_at"] = time.time()
        with self._lock:
            self.messages.append(record)
            self.per_second[int(time.time())] += 1
            if refusal:
                self.refused.append((sid,) + refusal)
                failure = None
            elif form.get("ContentSid") and not self._within_limit(number):
                refusal = (MESSAGING_LIMIT, "messaging limit reached")
                self.limited.append((sid, number))
                failure = None
            else:
                failure = self.callback_failures.pop(0) if self.callback_failures else None
        callback = form.get("StatusCallback")
        if callback and not refusal and record.get("MediaUrl"):
            # As Twilio: taken now, the media fetched after, and the message failed when
            # WhatsApp would not take it.
            task = asyncio.get_running_loop().create_task(
                self._judge_media(callback, sid, form, record, failure))
            self._media_tasks.add(task)
            task.add_done_callback(self._media_tasks.discard)
        elif callback and refusal:
            # WhatsApp refuses the message after Twilio took it: it never counts as sent.
            asyncio.get_running_loop().create_task(
                self._send_callbacks(callback, sid, form, refusal[0], ["failed"]))
        elif callback and (self.callbacks or failure):
            asyncio.get_running_loop().create_task(
                self._send_callbacks(callback, sid, form, failure, record=record))
        if self.event_sink and (refusal or self.callbacks or failure):
            asyncio.get_running_loop().create_task(self._make_events(
                sid, form, refusal[0] if refusal else failure,
                ["failed"] if refusal else None, record=None if refusal else record))
        return web.json_response(self._resource(sid, form), status=201)

    async def _judge_media(self, callback, sid, form, record, failure):
        key = (tuple(record["MediaUrl"]), record.get("header"))
        if key not in self.media_verdicts:
            self.media_verdicts[key] = await fake_media.twilio_refusal(list(key[0]), key[1])
        refused = self.media_verdicts[key]
        if refused:
            code = MEDIA_CODES[refused]
            with self._lock:
                self.refused.append((sid, code, refused))
            await self._send_callbacks(callback, sid, form, code, ["failed"])
        elif self.callbacks or failure:
            await self._send_callbacks(callback, sid, form, failure, record=record)

    def body_of(self, sid):
        """The approved body of a text or media content: ``template_bodies[sid]``, else the
        docs' one for its variables (a media content's body takes the text alone, ``{{1}}``).
        A body WhatsApp would not approve for the content is the test's mistake: ValueError."""
        media = sid in self.media_contents
        taken = 1 if media else self.templates.get(sid, 1)
        body = self.template_bodies.get(sid)
        if body is None:
            return default_body(taken)
        check_body(body, (1, 2) if media else range(1, taken + 1),
                   required=[1] if media else None)
        return body

    def _within_limit(self, number):
        """Whether WhatsApp's messaging limit lets a template reach ``number`` now; if so, it
        is counted as reached (call under the lock)."""
        now = self.clock()
        if self.messaging_limit is not None:
            reached = self.reached_since(now)
            if number not in reached and len(reached) >= self.messaging_limit:
                return False
        self.reached[number] = now
        return True

    def reached_since(self, now=None):
        """The numbers templates reached within the messaging limit's window up to ``now``."""
        now = self.clock() if now is None else now
        return {number for number, when in self.reached.items()
                if when > now - self.messaging_limit_seconds}

    def _injected(self):
        if self.error_queue:
            return self.error_queue.pop(0)
        roll = self.random.random()
        if roll < self.rate_429:
            return (429, 20429)
        if roll < self.rate_429 + self.rate_500:
            return (500, 20500)
        if roll < self.rate_429 + self.rate_500 + self.rate_drop:
            return "drop"
        return None

    def _resource(self, sid, form):
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01",
            "body": form.get("Body", ""), "date_created": now, "date_sent": None,
            "date_updated": now, "direction": "outbound-api", "error_code": None,
            "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(form.getall("MediaUrl", []))), "num_segments": "1",
            "price": None, "price_unit": None, "sid": sid, "status": "queued",
            "subresource_uris": {}, "to": form.get("To"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    async def _send_callbacks(self, url, sid, form, failure=None, failure_statuses=None,
                              record=None):
        statuses = list(self.callbacks) * self.callback_repeat
        error_code = self.callback_error_code
        if self.callback_delay:
            await asyncio.sleep(self.callback_delay)
        if failure is not None:
            statuses, error_code = failure_statuses or ["sent", "failed"], failure
        elif self.callback_shuffle:
            self.random.shuffle(statuses)
        validator = RequestValidator(self.auth_token)
        for status in statuses:
            params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                      "SmsStatus": status, "AccountSid": self.account_sid,
                      "To": form.get("To"), "From": form.get("From"),
                      "ChannelPrefix": "whatsapp", "ApiVersion": "2010-04-01"}
            if status in ("failed", "undelivered") and error_code:
                params["ErrorCode"] = str(error_code)
            if status == "read":
                params["EventType"] = "READ"
            if status in ("delivered", "read") and record is not None:
                with self._lock:
                    self.delivered.setdefault(sid, record)
            signature = validator.compute_signature(url, params)
            try:
                if self.callback_keepalive:
                    async with self._session.post(url, data=params, headers={
                            "X-Twilio-Signature": signature}) as resp:
                        status_code = resp.status
                else:
                    status_code = await asyncio.wait_for(
                        post_closing(url, urlencode(params), signature), self.callback_timeout)
                self.callback_results[status_code] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
                self.callback_results["error"] += 1

    # -- Event Streams' webhook sink ---------------------------------------------------------

    def _statuses_for(self, failure, failure_statuses):
        """The statuses a message goes through, and the error code of a failed one."""
        if failure is not None:
            return failure_statuses or ["sent", "failed"], failure
        statuses = list(self.callbacks) * self.callback_repeat
        if self.callback_shuffle:
            self.random.shuffle(statuses)
        return statuses, self.callback_error_code

    async def _make_events(self, sid, form, failure=None, failure_statuses=None, record=None):
        if self.callback_delay:
            await asyncio.sleep(self.callback_delay)
        statuses, error_code = self._statuses_for(failure, failure_statuses)
        for status in statuses:
            data = {"messageSid": sid, "messageStatus": status.upper(),
                    "accountSid": self.account_sid, "to": form.get("To"),
                    "from": form.get("From"), "timestamp": _now_iso(),
                    "eventName": f"com.twilio.messaging.message.{status}"}
            if status in ("failed", "undelivered") and error_code:
                data["errorCode"] = int(error_code)
            event = {"specversion": "1.0", "type": f"com.twilio.messaging.message.{status}",
                     "source": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
                     "id": "EZ" + secrets.token_hex(16),
                     "dataschema": "https://events-schemas.twilio.com/Messaging.MessageStatus/4",
                     "datacontenttype": "application/json", "time": _now_iso(), "data": data}
            with self._lock:
                self.sink_events.append(event)
                if status in ("delivered", "read") and record is not None:
                    self.delivered.setdefault(sid, record)
            self._sink_queue.append(event)
            if len(self._sink_queue) >= self.sink_batch_size:
                self._flush_sink()
            elif len(self._sink_queue) == 1:
                asyncio.get_running_loop().call_later(self.sink_batch_seconds, self._flush_sink)

    def _flush_sink(self):
        batch, self._sink_queue = self._sink_queue[:self.sink_batch_size], \
            self._sink_queue[self.sink_batch_size:]
        if self._sink_queue:
            asyncio.get_running_loop().call_later(self.sink_batch_seconds, self._flush_sink)
        if batch:
            self.sink_in_flight += 1
            asyncio.get_running_loop().create_task(self._deliver_batch(batch))

    def sign_events(self, url, body):
        """(the URL Twilio posts to, its X-Twilio-Signature) for a JSON ``body`` (bytes)."""
        signed = f"{url}{'&' if '?' in url else '?'}bodySHA256=" \
            f"{hashlib.sha256(body).hexdigest()}"
        return signed, RequestValidator(self.auth_token).compute_signature(signed, {})

    async def _post_batch(self, body):
        url, signature = self.sign_events(self.event_sink, body)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                    total=self.sink_timeout)) as session:
                async with session.post(url, data=body, headers={
                        "Content-Type": "application/json",
                        "X-Twilio-Signature": signature}) as resp:
                    status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            status = "error"
        self.sink_results[status] += 1
        return isinstance(status, int) and 200 <= status < 300

    async def _deliver_batch(self, batch):
        body = json.dumps(batch).encode()
        deadline = time.monotonic() + self.sink_retry_seconds
        pause = self.sink_backoff
        try:
            while not await self._post_batch(body):
                if time.monotonic() + pause > deadline:
                    self.sink_results["expired"] += 1
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.sink_backoff_max)
            self.sink_acknowledged.update(event["id"] for event in batch)
            if self.random.random() < self.sink_duplicates:
                await self._post_batch(body)  # at least once: sometimes twice
        finally:
            self.sink_in_flight -= 1

    def sink_settled(self):
        """Whether every event made has been answered 2xx or dropped, none waiting."""
        return not self._sink_queue and self.sink_in_flight == 0

    # -- steering over HTTP (benchmarks) -----------------------------------------------------

    async def _stats(self, request):
        return web.json_response({
            "messages": len(self.messages), "requests": self.requests,
            "per_second": sorted(self.per_second.items()),
            "to": Counter(m.get("To") for m in self.messages).most_common(3),
            "first_at": self.messages[0]["received_at"] if self.messages else None,
            "last_at": self.messages[-1]["received_at"] if self.messages else None,
            "callbacks": {str(k): v for k, v in self.callback_results.items()},
            "refused": Counter(code for _, code, _ in self.refused),
            "limited": len(self.limited), "reached": len(self.reached_since()),
            "delivered": len(self.delivered),
        })

    async def _config(self, request):
        data = await request.json()
        for key in ("latency", "rate_429", "rate_500", "rate_drop", "callbacks",
                    "callback_shuffle", "callback_repeat", "callback_error_code",
                    "callback_failures", "callback_delay", "templates", "template_bodies",
                    "messaging_limit", "messaging_limit_seconds"):
            if key in data:
                setattr(self, key, data[key])
        if "callback_keepalive" in data and data["callback_keepalive"] != self.callback_keepalive:
            self.callback_keepalive = data["callback_keepalive"]
            old, self._session = self._session, self._callback_session()
            await old.close()
        return web.json_response({"ok": True})

    async def _reset(self, request):
        self.reset()
        return web.json_response({"ok": True})


def _now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


async def post_closing(url, body, signature):
    """POST a form on a connection of its own, closed after the answer; returns the status.

    The benchmarks' fake posts thousands of callbacks a second, each on a new connection (the
    harder case for the server); aiohttp's client spends most of its time opening those, so
    this says the few words HTTP needs itself.
    """
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        payload = body.encode()
        writer.write(
            f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: close\r\n\r\n".encode() + payload)
        status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--latency", type=float, default=0.15)
    args = parser.parse_args()
    fake = FakeTwilio(latency=args.latency, port=args.port)

    async def run():
        await fake._start_async()
        print(f"fake Twilio on {fake.url}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop  # a benchmark's fake should leave the CPU to what it measures
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


if __name__ == "__main__":
    main()
