"""The one module that knows Twilio: signatures, TwiML, sending, error codes, status names.

A leaf module (it imports nothing of ours). Everything else sees:
- ``signature_is_valid(...)`` and ``twiml(...)`` for webhooks;
- ``parse_status(form)`` → a ``StatusUpdate`` in our closed vocabulary;
- ``TwilioTransport.send(message)`` → a sid, or a ``SendError`` whose ``kind`` says what to do.
"""

import asyncio
import functools
import hmac
import json
import logging
from dataclasses import dataclass

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

log = logging.getLogger(__name__)

# Twilio's client logs every request at INFO; at a thousand messages a second that is noise.
logging.getLogger("twilio").setLevel(logging.WARNING)

DEFAULT_API_URL = "https://api.twilio.com"

# What the send loop does with an error (see ../shared/PLATFORM.md for the codes).
THROTTLED = "throttled"      # not processed: back off, retry, no duplicate possible
UNKNOWN = "unknown"          # maybe processed (5xx, timeout, dropped): retry, may duplicate
PERMANENT = "permanent"      # this recipient cannot get this message: fail it, go on
OPTED_OUT = "opted_out"      # permanent, and the citizen asked to leave
HALT = "halt"                # the channel is misconfigured: pause, nothing will work
LIMIT = "limit"              # WhatsApp's messaging limit: pause and resume later by itself

OPT_OUT_CODE = 21610
LIMIT_CODE = 63018
# As they appear in status callbacks and in the database.
LIMIT_ERROR_CODES = (str(LIMIT_CODE),)

_CODE_KINDS = {
    20429: THROTTLED,
    LIMIT_CODE: LIMIT,
    20003: HALT,
    20404: HALT,  # the account or sender does not exist: configuration, not the recipient
    OPT_OUT_CODE: OPTED_OUT,
}

# Failures whose cure is in the operator's hands: error code → what to do, in plain English.
ERROR_HINTS = {
    "63016": (
        "63016: WhatsApp delivers free-form messages only to citizens who wrote to the number "
        "in the last 24 hours. Set BROADCAST_CONTENT_SID to an approved WhatsApp template "
        "(README, \"Templates\") so that broadcasts reach every subscriber."),
}


def hints_for(errors):
    """Advice for a broadcast's failures ({error code: count}), empty when there is none."""
    return [ERROR_HINTS[code] for code in sorted(errors) if code in ERROR_HINTS]


# Our closed status vocabulary for what Twilio reports after a send, ranked so that
# out-of-order callbacks can only move a message forward.
_STATUS_MAP = {
    "accepted": ("sent", 1), "queued": ("sent", 1), "scheduled": ("sent", 1),
    "sending": ("sent", 1), "sent": ("sent", 2),
    "delivered": ("delivered", 3), "read": ("read", 4),
    "undelivered": ("failed", 9), "failed": ("failed", 9), "canceled": ("failed", 9),
}


class SendError(Exception):
    def __init__(self, kind, code=None, message=""):
        super().__init__(message or f"{kind} ({code})")
        self.kind = kind
        self.code = code


@dataclass
class OutgoingMessage:
    to: str             # E.164
    body: str
    media_url: str = None
    broadcast_id: int = None
    to_hash: str = None


@dataclass
class StatusUpdate:
    sid: str
    status: str        # sent | delivered | read | failed
    rank: int
    error_code: str = None

    @property
    def opted_out(self):
        """The platform says this citizen opted out: honour it as a Stop."""
        return self.error_code == str(OPT_OUT_CODE)

    @property
    def limit_reached(self):
        """Refused for WhatsApp's messaging limit, not for anything about the recipient."""
        return self.error_code in LIMIT_ERROR_CODES


def signature_is_valid(auth_token, url, form, signature):
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    # Fast path: the URL exactly as configured. Only when that fails, let the validator also
    # try the default-port variants Twilio may have signed (it computes both every time).
    if hmac.compare_digest(validator.compute_signature(url, form).encode(), signature.encode()):
        return True
    return validator.validate(url, form, signature)


def sign(auth_token, url, params):
    """The signature Twilio would send for these params (used by tests and the demo)."""
    return RequestValidator(auth_token).compute_signature(url, params)


@functools.lru_cache(maxsize=256)
def twiml(text=None):
    # Replies come from a handful of configured texts: build each document once.
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)


def parse_status(form):
    """A status callback's form → StatusUpdate, or None when it is nothing we track."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or raw not in _STATUS_MAP:
        return None
    status, rank = _STATUS_MAP[raw]
    error = form.get("ErrorCode") or None
    return StatusUpdate(sid, status, rank, error if status == "failed" else None)


def classify(exc):
    """Turn whatever the client raised into a SendError."""
    if isinstance(exc, TwilioRestException):
        code = exc.code
        kind = _CODE_KINDS.get(code)
        if kind is None:
            if exc.status == 429:
                kind = THROTTLED
            elif exc.status == 401:
                kind = HALT
            elif exc.status >= 500:
                kind = UNKNOWN
            else:
                kind = PERMANENT
        return SendError(kind, code or exc.status, exc.msg)
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)):
        return SendError(UNKNOWN, None, f"{type(exc).__name__}: {exc}")
    return None


class _HttpClient(AsyncTwilioHttpClient):
    """twilio's async client hands aiohttp ``timeout=None`` when the caller gives no timeout,
    and aiohttp reads that as "no time limit", overriding the session's. So a hung request
    would hang for ever instead of counting as an unknown outcome: pass ours every time."""

    async def request(self, method, url, params=None, data=None, headers=None, auth=None,
                      timeout=None, allow_redirects=False):
        return await super().request(method, url, params=params, data=data, headers=headers,
                                     auth=auth, timeout=timeout or self.timeout,
                                     allow_redirects=allow_redirects)


class TwilioTransport:
    """Sends through Twilio's REST API with the real client, asynchronously.

    ``content_sid`` set: the approved template, text as variable 1 (business-initiated messages
    outside the 24-hour window need it). Otherwise a free-form body.
    """

    def __init__(self, account_sid, auth_token, from_address, api_url=DEFAULT_API_URL,
                 status_callback=None, content_sid=None, max_connections=256,
                 timeout_seconds=15):
        self.from_address = from_address
        self.status_callback = status_callback
        self.content_sid = content_sid
        # A timeout so that a hung request counts as "unknown" and is retried.
        self._http = _HttpClient(pool_connections=False, timeout=timeout_seconds)
        # The stock session holds 100 connections; at 1,000/s and 150 ms per answer we need
        # more in flight.
        self._http.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections),
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        )
        self._client = Client(account_sid, auth_token, http_client=self._http)
        self._client.api.base_url = (api_url or DEFAULT_API_URL).rstrip("/")

    async def send(self, message):
        kwargs = {"to": f"whatsapp:{message.to}", "from_": self.from_address}
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        if self.content_sid:
            kwargs["content_sid"] = self.content_sid
            kwargs["content_variables"] = json.dumps({"1": message.body})
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

    async def close(self):
        await self._http.close()
