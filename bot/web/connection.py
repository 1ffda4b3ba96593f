"""A connection of the web process: gunicorn's HTTP/1 protocol with what it lacks here.

- A deadline for the first request's headers, and the worker's connection limit (see
  ``gunicorn_worker.FrontWorker.admit``).
- A request body is read only once the front asks for it (``open_body``), after it decided
  that the request can be authorized; while it is read, it counts against the worker's budget
  of body bytes and must keep the minimum rate. A request refused before its body was read is
  answered, then the connection reads on a moment without keeping anything (``linger``) and
  closes.
- The storm night's short path: a status callback answered by the connection itself, without
  gunicorn's tasks, ASGI scope and send path. With a new connection for every callback, as the
  platform may post them, those cost the web process more than the callback's own work
  (signature, form, group commit): 400 µs of CPU per callback went down to 150. Meta's
  webhook posts take it too: those with status reports alone go to the group commit, those
  with citizens' messages to Flask's threads, answered from here.

Everything the short path does not take goes gunicorn's way, to ``front.Front``.

The module is long because all of this is one class: gunicorn makes one protocol object per
connection, and each part above hooks into the same few of its methods.
"""

import asyncio
import functools
import time
from email.utils import formatdate
from http import HTTPStatus

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.http2 import negotiation

from .front import (BODY_SECONDS, CONNECTION, META_BODY_LIMIT, META_PATH, META_SIGNATURE,
                    NOT_STORED, OPEN_BODY_LIMIT, SIGNATURE, STATUS_PATH, Refused)

# How long after connecting a client may take to send its first request's headers. Later
# requests on a kept-alive connection get gunicorn's ``keepalive`` seconds instead.
HEADER_SECONDS = 10.0
STATUS_TARGET = STATUS_PATH.encode()
META_TARGET = META_PATH.encode()
# A status callback carrying one of these takes gunicorn's path, which handles them: the
# platform sends none of them.
NOT_SHORT = frozenset((b"transfer-encoding", b"expect", b"upgrade"))
# After a request refused before its body was read: how long, and how much, the connection
# goes on reading (and dropping) before it closes. Closed at once, with bytes unread, the
# kernel resets the connection, and a client still sending its body never sees the answer.
LINGER_SECONDS = 2.0
LINGER_BYTES = 8 * 1024 * 1024


def find_c_parser():
    """Let gunicorn find its C HTTP parser (gunicorn_h1c) for our protocol class too.

    gunicorn looks for it on the class that runs, which is ours, but reads the answer from
    ASGIProtocol itself: asked from a subclass, it always took its Python parser, which cost
    a tenth of the CPU of a status callback. Asked once on its own class, the answer is
    where it is read, and our class inherits it."""
    ASGIProtocol._check_h1c_protocol_available()


class FrontProtocol(ASGIProtocol):
    """gunicorn's HTTP/1 connection, with a deadline for the first request's headers, the
    worker's connection limit, and the short path for status callbacks.

    gunicorn times the wait for a kept-alive connection's next request (``keepalive``), but
    not for the first one: a client that connects and sends nothing, or sends a header a
    byte at a time, held its connection for as long as it liked.

    The short path: gunicorn starts a task per connection to serve its requests, and another
    per request to run the app. Here the first is started only when a request needs it. A
    ``POST /twilio/status`` with a ``Content-Length`` is read by the parser's callbacks
    instead, checked by ``Front.status_update``, queued for the group commit, and answered
    from the commit's callback, exactly as the ASGI path answers it. Anything else on the
    connection, then or later, goes gunicorn's way.
    """

    _callback = None  # the status callback being read or stored (``StatusCallback``)
    body = None  # the body being read or held (``gunicorn_worker.Body``)
    deadline = None  # the front's deadline for the body being read (an ``asyncio.Timeout``)
    _held = False  # a body waits for the front to ask for it: reading stays paused
    _linger = False  # close by lingering (``linger``)

    def connection_made(self, transport):
        super().connection_made(transport)
        if self._request_ready is None:
            return  # not HTTP/1; gunicorn.conf.py enables nothing else
        # The same timer gunicorn arms before a kept-alive connection's next request: it
        # closes the connection unless the request's headers are complete in time.
        self._keepalive_handle = self.worker.loop.call_later(HEADER_SECONDS,
                                                             self._keepalive_timeout)
        self.worker.admit(self)

    def _start_http1(self, buffered=b""):
        # gunicorn's, but without starting the connection's task (``_on_headers_complete``).
        self._request_ready = asyncio.Event()
        self._setup_callback_parser()
        self._h2c_upgrade_ok = (
            negotiation.upgrade_allowed(self.cfg, self.transport.get_extra_info("peername"))
            and hasattr(self._callback_parser, "remaining"))
        if buffered:
            self._feed_callback_parser(buffered)

    def _arm_keepalive_timer(self):
        super()._arm_keepalive_timer()
        self.worker.idle(self)

    def _on_headers_complete(self):
        self.worker.busy(self)
        if self._task is None:
            if self._takes_status_callback():
                return False
            self._task = self.worker.loop.create_task(self._handle_connection())
        answer = super()._on_headers_complete()
        request = self._current_request
        if request is not None and (request.chunked or request.content_length):
            # Not a byte more until the front has decided that it wants the body.
            self._held = True
            self._pause_reading()
        return answer

    def _build_http_scope(self, request, sockname, peername):
        scope = super()._build_http_scope(request, sockname, peername)
        scope[CONNECTION] = self
        return scope

    def _maybe_resume_reading(self):
        if not self._held:
            super()._maybe_resume_reading()

    def open_body(self, size, authorized=False):
        """The front wants the body (``size`` bytes announced): False when the worker's
        budget for bodies has no room."""
        if not self.worker.body_started(self, size, authorized):
            return False
        receiver = self._body_receiver
        if receiver is not None:  # what came with the headers counts too
            self.body.received = receiver.buffered
        self._held = False
        self._maybe_resume_reading()
        return True

    def body_done(self):
        """The front has read the body, or stopped reading it."""
        self.deadline = None
        self.worker.body_read(self)

    def body_answered(self):
        self.worker.body_served(self)

    def body_too_slow(self):
        """The worker's rate check: the body does not arrive fast enough."""
        if self._callback is not None:
            self._callback_too_slow()
        elif self.deadline is not None:
            self.deadline.reschedule(self.worker.loop.time())
        else:
            self.hang_up()

    def linger(self):
        """This request's answer ends the connection (its body was not read, or not all of
        it); close it by lingering."""
        self._linger = True
        self._keepalive = 0  # gunicorn then announces the close and keeps nothing alive

    def _close_transport(self):
        if not self._linger or self._closed or self.transport is None:
            return super()._close_transport()
        # The answer goes out, then the end of it; what the client still sends is dropped,
        # until it stops, LINGER_BYTES have come, or LINGER_SECONDS have passed. Meanwhile the
        # connection is one of those the limit closes first.
        self._linger = False
        self._drop_buffered_body()
        transport = self.transport
        try:
            if transport.can_write_eof():
                transport.write_eof()
            # uvloop, like asyncio, hands data to the transport's protocol: now the dropper.
            transport.set_protocol(Dropper(self))
            transport.resume_reading()
        except (OSError, RuntimeError):
            return super()._close_transport()
        # Nothing parses on this connection any more; the parser holds what it read last.
        self._callback_parser = None
        self._held = False
        self.worker.body_served(self)
        self.worker.idle(self)
        self._keepalive_handle = self.worker.loop.call_later(LINGER_SECONDS,
                                                             self._keepalive_timeout)
        return None

    def _takes_status_callback(self):
        parser = self._callback_parser
        path = parser.path
        if path == STATUS_TARGET:
            meta, limit, signature = False, OPEN_BODY_LIMIT, SIGNATURE
            if not self.worker.short_status:
                return False
        elif path == META_TARGET:
            meta, limit, signature = True, META_BODY_LIMIT, META_SIGNATURE
            if not self.worker.short_meta:
                return False
        else:
            return False
        if not (parser.method == b"POST"
                and type(parser) is ASGIProtocol._h1c_protocol_class
                and parser.content_length is not None
                and parser.content_length <= limit
                and self._pre_request is None and self._post_request is None):
            return False
        headers = parser.asgi_headers
        # What the short path does not answer goes gunicorn's way, where the front does: a
        # missing or repeated Host field (HTTP/1.1) or signature field is refused there.
        hosts = signatures = 0
        for name, _ in headers:
            if name in NOT_SHORT:
                return False
            if name == b"host":
                hosts += 1
            elif name == signature:
                signatures += 1
        if signatures != 1 or hosts > 1 or not hosts and parser.http_version >= (1, 1):
            return False
        if not self.worker.body_started(self, parser.content_length):
            return False
        self._cancel_keepalive_timer()
        self._callback = StatusCallback(
            headers, parser.http_version,
            parser.should_keep_alive and parser.http_version >= (1, 1),
            self.worker.loop.call_later(BODY_SECONDS, self._callback_too_slow), meta)
        return True

    def _on_body(self, chunk):
        if self.body is not None:
            self.body.received += len(chunk)
        if self._callback is None:
            return super()._on_body(chunk)
        self._callback.body.append(chunk)
        return None

    def _on_message_complete(self):
        callback = self._callback
        if callback is None:
            self.worker.body_read(self)
            return super()._on_message_complete()
        callback.deadline.cancel()
        # Read: the few bytes it holds now are the status writer's to count.
        self.worker.body_served(self)
        # Nothing more is read from this connection until the callback is answered.
        self._pause_reading()
        front = self.worker.asgi
        if callback.meta:
            return self._meta_post(front, callback)
        try:
            update = front.status_update(self.worker.status_url, dict(callback.headers),
                                         b"".join(callback.body))
        except Refused as refused:
            update, answer = None, (refused.status, refused.text)
        except Exception:  # noqa: BLE001 - answered, never left hanging with reading paused
            self.log.exception("Checking a status callback failed")
            callback.keep_alive = False
            update, answer = None, (500, b"internal error\n")
        else:
            answer = (200, b"")
        if update is None:
            # Not from within the parser's own call: answering may feed it the next request.
            self.worker.loop.call_soon(self._answer_callback, *answer)
        else:
            front.writer.submit_nowait(update, self._stored)
        return None

    def _meta_post(self, front, callback):
        body = b"".join(callback.body)
        try:
            updates = front.meta_statuses(callback.headers, body)
        except Refused as refused:
            updates, answer = (), (refused.status, refused.text)
        except Exception:  # noqa: BLE001 - answered, never left hanging with reading paused
            self.log.exception("Checking a webhook post failed")
            callback.keep_alive = False
            updates, answer = (), (500, b"internal error\n")
        else:
            answer = (200, b"")
        if updates is None:
            # Citizens wrote: Flask handles the post in its threads; answered from here.
            self.worker.loop.create_task(self._flask_answer(front, callback.headers, body))
        elif updates:
            front.writer.submit_group_nowait(updates, self._stored)
        else:
            self.worker.loop.call_soon(self._answer_callback, *answer)

    async def _flask_answer(self, front, headers, body):
        try:
            status, text = await self.worker.loop.run_in_executor(
                front.pool, front.run_meta_view, headers, body)
        except Exception:  # noqa: BLE001 - answered, never left hanging with reading paused
            self.log.exception("Handling a webhook post failed")
            status, text = 500, b"internal error\n"
        if self._callback is not None:
            self._answer_callback(status, text)

    def _stored(self, exc):
        if exc is None:
            self._answer_callback(200, b"")
        else:
            self._answer_callback(*NOT_STORED)

    def _callback_too_slow(self):
        self._callback.keep_alive = False
        self._answer_callback(408, b"request body too slow\n")

    def _answer_callback(self, status, text):
        callback, self._callback = self._callback, None
        if self._closed:
            return
        worker = self.worker
        worker.nr += 1
        if worker.nr >= worker.max_requests:
            self.log.info("Autorestarting worker after current request.")
            worker.alive = False
        close = not (callback.keep_alive and worker.alive and self._keepalive)
        self._safe_write(b"".join((
            status_line(callback.version, status),
            worker.answer_headers, b"Content-Length: %d\r\n" % len(text), date_header(),
            b"Connection: close\r\n\r\n" if close else b"\r\n", text)))
        parser = self._callback_parser
        # A client that does not read its answers (the transport asked us to stop writing)
        # gets no more: reading on would pile answers up in memory without end.
        if close or parser.remaining_truncated or self._flow_control.write_paused:
            self._close_transport()
            return
        # As gunicorn does between two requests: a request that came with this one
        # (pipelined) is in the parser still, and is served next.
        pipelined = parser.remaining()
        parser.reset()
        self._resume_reading()
        self._arm_keepalive_timer()
        if pipelined:
            self._feed_callback_parser(pipelined)

    def connection_lost(self, exc):
        if self._callback is not None:
            self._callback.deadline.cancel()
        self.worker.release(self)
        super().connection_lost(exc)
        self._drop_buffered_body()
        if self._task is None:
            # Only the short path served this connection, and nothing touches it again. Its
            # parts hold each other (the parser calls back into this protocol; the transport
            # and the flow control hold it and are held by it): unlinked, they are freed now,
            # by reference counting, instead of piling up for the cyclic collector, which
            # then spent a tenth of the web process's time on a storm night.
            self._callback_parser = self.transport = self.writer = self._flow_control = None

    def _drop_buffered_body(self):
        """Free the body bytes read and never taken now, not when the collector gets to the
        connection's parts (they hold each other): with bodies of refused requests that was
        a quarter of a megabyte each, hundreds of them at a time."""
        receiver = self._body_receiver
        if receiver is not None and receiver.buffered:
            receiver._chunks.clear()  # noqa: SLF001 - gunicorn's receiver has no method for it
            receiver._buffered = 0  # noqa: SLF001

    def hang_up(self):
        self._linger = False
        self._keepalive_timeout()


class Dropper(asyncio.Protocol):
    """What a lingering connection (``FrontProtocol._close_transport``) reads goes here, and
    nowhere: the connection's own protocol would parse it."""

    def __init__(self, connection):
        self.connection = connection
        self.dropped = 0

    def data_received(self, data):
        self.dropped += len(data)
        if self.dropped > LINGER_BYTES:
            self.connection.hang_up()

    def eof_received(self):
        return False  # the client has read the answer and is done: close

    def pause_writing(self):
        self.connection.pause_writing()

    def resume_writing(self):
        self.connection.resume_writing()

    def connection_lost(self, exc):
        self.connection.connection_lost(exc)
        self.connection = None


class StatusCallback:
    """A status callback (or a post to Meta's webhook: ``meta``) on the short path, from its
    headers to its answer."""

    __slots__ = ("headers", "version", "keep_alive", "deadline", "body", "meta")

    def __init__(self, headers, version, keep_alive, deadline, meta=False):
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self.deadline = deadline
        self.body = []
        self.meta = meta


_date = [0, b""]


@functools.cache
def status_line(version, status):
    return b"HTTP/%d.%d %d %s\r\n" % (*version, status, HTTPStatus(status).phrase.encode())


def date_header():
    """The Date field (RFC 9110 section 6.6.1), made anew once a second."""
    now = int(time.time())
    if _date[0] != now:
        _date[:] = now, b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
    return _date[1]
