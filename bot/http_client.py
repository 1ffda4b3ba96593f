"""A small HTTP/1.1 client for the one request the sender makes a thousand times a second.

The sender posts the same kind of form to the same address for every message of a broadcast.
aiohttp's client, which it used before, builds a request object, a response object, header
multidicts, a cookie jar's filter and a stream reader for each of those posts: on the storm
night that was about 85 µs of the worker's CPU per message, more than half of everything the
twilio client cost (measured side by side in ``bench/worst_night.py`` and the closing note of
the storm-night issue). This client writes the request's few lines itself and reads the answer
with httptools, the C parser uvicorn uses, on connections it keeps open.

What it does, and no more:
- one ``request(method, url, headers, body)`` → ``Answer(status, body, headers)``; no
  redirects, no cookies, no proxies, no compression (it asks for none), no ``HEAD``;
- kept-alive connections per origin, most recently used first, never one idle longer than
  ``idle_seconds`` (a server closes idle ones after a while, and a request written onto a
  connection the server is closing gets no answer);
- at most ``limit`` requests at once; a time limit on each, connecting included;
- ``http`` and ``https`` (the system's certificates, or a context given).

Anything that is not an answer (refused, reset, closed early, not HTTP, too large, a broken
certificate) raises ``HttpError``, a ``ConnectionError``; a time limit raises ``TimeoutError``.
A connection that failed or timed out is closed, never used again.
"""

import asyncio
import collections
import functools
import ssl
import time
from urllib.parse import urlsplit

import httptools

DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpError(ConnectionError):
    """No usable answer came; whether the server acted on the request is not known."""


class Answer:
    __slots__ = ("status", "body", "headers")

    def __init__(self, status, body, headers):
        self.status = status
        self.body = body          # bytes
        self.headers = headers    # {lower-case name: value}


@functools.lru_cache(maxsize=64)
def _request_head(method, url, header_items):
    """(origin, the request's head up to its Content-Length value) for one kind of request.

    The sender's requests differ only in their bodies, so this is worked out once.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    method = method.upper()
    if method == "HEAD":
        raise ValueError("HEAD requests are not supported")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    for name, value in header_items:
        if name.lower() in ("host", "content-length", "transfer-encoding", "connection"):
            continue  # ours to write
        lines.append(f"{name}: {value}")
    if any(c in line for line in lines for c in "\r\n\0"):
        raise ValueError("a header or the URL holds a line break")
    head = "\r\n".join(lines) + "\r\nContent-Length: "
    origin = (scheme, parts.hostname, parts.port or DEFAULT_PORTS[scheme])
    return origin, head.encode("latin-1")


class _Connection(asyncio.Protocol):
    """One kept-alive connection: one request at a time, its answer read by httptools."""

    def __init__(self, max_body):
        self.transport = None
        self.closed = False
        self.idle_since = 0.0
        self._max_body = max_body
        self._waiter = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers = {}
        self._body = []
        self._size = 0
        self._keep_alive = False
        self._until_close = False

    # asyncio's side
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self._waiter is None:
            self._abort(HttpError("the server sent data no request asked for"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._abort(HttpError(f"the answer is not HTTP: {exc}"))

    def eof_received(self):
        self.closed = True  # the server is done with it; the transport closes our side too
        return False

    def connection_lost(self, exc):
        self.closed = True
        if self._waiter is not None and self._until_close:
            self.on_message_complete()  # an answer whose end is the connection's end
        self._fail(HttpError("the connection closed before the answer"
                             + (f": {exc}" if exc else "")))

    # httptools' side
    def on_message_begin(self):
        if self._waiter is None:  # an answer to nothing: whatever this is, not ours to trust
            self._abort(HttpError("the server sent an answer no request asked for"))

    def on_header(self, name, value):
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self):
        self._keep_alive = self._parser.should_keep_alive()
        # No length and not chunked: the body runs to the close (httptools cannot be told
        # that the stream ended, so connection_lost completes such an answer).
        self._until_close = not ({"content-length", "transfer-encoding"} & self._headers.keys())

    def on_body(self, body):
        self._size += len(body)
        if self._size > self._max_body:
            self._abort(HttpError(f"the answer is larger than {self._max_body} bytes"))
            return
        self._body.append(body)

    def on_message_complete(self):
        waiter, self._waiter = self._waiter, None
        answer = Answer(self._parser.get_status_code(), b"".join(self._body), self._headers)
        self._headers, self._body, self._size, self._until_close = {}, [], 0, False
        if not self._keep_alive:
            self.closed = True  # the server will close it; the pool must not hand it out
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # ours
    def exchange(self, payload):
        """Write one request; the future its answer (or failure) resolves."""
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self._waiter

    def _fail(self, exc):
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _abort(self, exc):
        self.closed = True
        self._fail(exc)
        self.transport.abort()

    def close(self):
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Kept-alive connections to a few origins; see the module's docstring."""

    def __init__(self, limit=256, timeout=15.0, idle_seconds=15.0, max_body=1 << 20,
                 ssl_context=None):
        self.timeout = timeout
        self.idle_seconds = idle_seconds
        self.max_body = max_body
        self.opened = 0   # connections made so far (tests and benchmarks read it)
        self._ssl = ssl_context
        self._slots = asyncio.Semaphore(limit)
        self._idle = collections.defaultdict(collections.deque)   # origin → connections
        self._busy = set()

    async def request(self, method, url, headers=None, body=b"", timeout=None):
        origin, head = _request_head(method, url, tuple((headers or {}).items()))
        payload = b"%b%d\r\n\r\n%b" % (head, len(body), body)
        async with self._slots:
            connection = None
            try:
                async with asyncio.timeout(timeout or self.timeout):
                    connection = self._idle_connection(origin) or await self._connect(origin)
                    self._busy.add(connection)
                    answer = await connection.exchange(payload)
            except BaseException:
                if connection is not None:
                    connection.close()
                raise
            finally:
                self._busy.discard(connection)
            self._release(origin, connection)
            return answer

    def _idle_connection(self, origin):
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed and time.monotonic() - connection.idle_since \
                    < self.idle_seconds:
                return connection
            connection.close()
        return None

    async def _connect(self, origin):
        scheme, host, port = origin
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                functools.partial(_Connection, self.max_body), host, port, ssl=context)
        except OSError as exc:  # refused, unreachable, no such host, a certificate refused
            raise HttpError(f"cannot connect to {host}:{port}: {exc}") from exc
        self.opened += 1
        return connection

    def _release(self, origin, connection):
        if connection.closed:
            connection.close()
            return
        now = time.monotonic()
        connection.idle_since = now
        idle = self._idle[origin]
        idle.append(connection)
        # The least recently used wait at the far end: let the stale ones go.
        while idle and (idle[0].closed or now - idle[0].idle_since >= self.idle_seconds):
            idle.popleft().close()

    async def close(self):
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        for connection in list(self._busy):
            connection.close()
        self._busy.clear()
