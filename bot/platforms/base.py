"""What every platform module of this package hands the rest of the code, in our words.

A leaf: the messages we send, the messages and statuses a platform reports, and the errors of
both. Nothing here names a platform's fields, headers or codes; the platform modules
(``twilio``, ``meta``) map what their platform says into these.
"""

import asyncio
from dataclasses import dataclass, field

from .. import vocabulary as v


class InvalidWebhook(Exception):
    """A webhook we cannot use; the message is the plain reason for the 400 answer."""


class SendError(Exception):
    def __init__(self, kind, code=None, message=""):
        super().__init__(message or f"{kind} ({code})")
        self.kind = kind
        self.code = code  # the platform's, as it came (stored as a string)


@dataclass
class OutgoingMessage:
    to: str             # E.164
    body: str
    media_url: str = None
    broadcast_id: int = None
    to_hash: str = None
    language: str = None  # the recipient's, None for the main one
    reply: bool = False   # an answer to a citizen who just wrote (inside the 24-hour window)
    # What media_url is ("video/mp4", "application/pdf"; None: a picture) and, for a document,
    # the name the citizen's phone shows.
    media_type: str = None
    media_filename: str = None
    # Quick-reply buttons under the text, ((payload, title), …): what a tap sends back as
    # ``InboundMessage.payload``. Two or three; a title holds at most 20 characters.
    buttons: tuple = ()


@dataclass
class InboundMessage:
    message_id: str
    sender: str         # "+49…" as the platform wrote it: normalise with phone.e164
    body: str
    media: list = field(default_factory=list)   # [(url, content type)]
    kind: str = v.INBOUND_TEXT  # vocabulary.INBOUND_KINDS
    replied_to: str = None      # the message a reaction or button reply is about
    payload: str = None         # a tapped button's payload, as we sent it (OutgoingMessage)


@dataclass
class StatusUpdate:
    message_id: str
    status: str        # vocabulary.RECEIPT_STATUSES
    rank: int
    error_code: str = None
    error_kind: str = None

    @property
    def opted_out(self):
        """The platform says this citizen opted out: honour it as a Stop."""
        return self.error_kind == v.OPTED_OUT

    @property
    def limit_reached(self):
        """Refused for WhatsApp's messaging limit, not for anything about the recipient."""
        return self.error_kind == v.MESSAGING_LIMIT


@dataclass
class Events:
    """Everything one webhook request carried: citizens' messages and status updates."""

    messages: list = field(default_factory=list)   # [InboundMessage]
    statuses: list = field(default_factory=list)   # [StatusUpdate]


def send_each(make_transport, messages):
    """Send a few messages one after another, outside the send loop (a test send to staff
    phones), from a thread that runs no event loop: a transport from ``make_transport()``,
    closed after. Returns, per message, its id or the ``SendError``."""

    async def run():
        transport = make_transport()
        results = []
        try:
            for message in messages:
                try:
                    results.append(await transport.send(message))
                except SendError as exc:
                    results.append(exc)
        finally:
            await transport.close()
        return results

    return asyncio.run(run())
