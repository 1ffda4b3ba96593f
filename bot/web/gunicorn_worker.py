"""The gunicorn worker class of the web process (``gunicorn.conf.py`` names it).

gunicorn's own asyncio worker, which multiplexes connections on an event loop, running our
``Front`` around the Flask app that ``wsgi:app`` loads, so that the Procfile's command and
``wsgi.py`` stay what they were. ``threads`` (``WEB_THREADS``) sizes the pool that runs Flask.

What gunicorn's asyncio worker lacks against slow and idle clients is added here and in
``connection``: a deadline for a request's headers, a ceiling on connections below the open
files limit, and gunicorn's own listen queue (``notify``); for request bodies, a minimum
rate, a budget of bytes per worker, and eviction at the connection limit. And the storm
night's short path for status callbacks (``connection.FrontProtocol``).

It is long because each of those limits needs the others: a body counts against the budget
and the rate check from the moment it is admitted until its request is answered, and making
room (at the connection limit, or when a budget is full) picks among the same readers.
"""

import functools
import resource
import time

from gunicorn.asgi import protocol as asgi_protocol
from gunicorn.errors import AppImportError
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers import gasgi
from gunicorn.workers.gasgi import ASGIWorker

from ..config import ConfigError
from ..process import tune_gc
from .connection import FrontProtocol, find_c_parser
from .front import BODY_SECONDS, STATUS_PATH, Front

# File descriptors a worker keeps for everything but its clients: the listening socket, the
# database (three files per connection, one connection per thread), logs.
RESERVED_FILES = 64
WARN_EVERY_SECONDS = 60.0
# A request body must keep arriving: by RATE_GRACE seconds after it began, at least
# MIN_BODY_RATE bytes a second (or all of it), and from then on as much within every
# RATE_WINDOW seconds (or all that is left). The slowest link a press officer uploads from
# does a hundred times that; an upload that trickles in loses its connection then, instead
# of holding it for UPLOAD_SECONDS. (Other bodies have BODY_SECONDS in all anyway.)
MIN_BODY_RATE = 1024
RATE_GRACE = BODY_SECONDS
RATE_WINDOW = 5.0
# Body bytes a worker holds at once, from the first byte read until the request is answered
# (counted as announced: Content-Length, or the path's limit when chunked). A dozen pictures
# at their largest; the platform's webhooks are a kilobyte or two each.
BODY_BUDGET = 64 * 1024 * 1024
# Bodies of requests that carry no credential the front can check before reading them (the
# platform's webhooks, whose signature covers the body; signing in) have a budget of their own,
# so that they can never take the room authorized uploads need, nor be kept out by them. When
# it is full, the oldest of them still arriving makes room: the platform sends a webhook's
# kilobyte or two at once, so what waits longest is a client that announced a body and holds
# it back, and a flood of those pushes out only itself.
OPEN_BODY_BUDGET = 16 * 1024 * 1024


class FrontWorker(ASGIWorker):
    @classmethod
    def check_config(cls, cfg, log):
        """gunicorn warns that its ASGI worker ignores ``threads``; this one uses them."""

    def init_process(self):
        # gunicorn's worker makes each connection's protocol from the name ASGIProtocol in
        # its module. Only this worker class runs in this process, so pointing that name at
        # ours changes nothing else.
        gasgi.ASGIProtocol = FrontProtocol
        find_c_parser()
        self.cfg = Settings(self.cfg)
        # gunicorn's protocol also asks, for every connection, which request hooks to call,
        # though the answer depends on nothing but these settings and the logger.
        for name in ("_pre_request_hook", "_post_request_hook"):
            setattr(asgi_protocol, name, functools.cache(getattr(asgi_protocol, name)))
        self.connection_limit = connection_limit()
        self.open_connections = set()
        # Connections waiting for a request (none yet, or the next one), the oldest first.
        self.waiting = {}
        # Connections reading a request's body ({protocol: Body}), the oldest first, and the
        # bytes that the bodies being read or served hold (announced).
        self.reading = {}
        self.body_bytes = 0
        self.open_body_bytes = 0
        self._rate_check = None
        self._warned_at = -WARN_EVERY_SECONDS
        self._backlog_restored = False
        super().init_process()

    def load_wsgi(self):
        try:
            wsgi = self.app.wsgi()
        except ConfigError as error:
            # gunicorn prints an AppImportError as its message alone and stops, where any
            # other error comes with a traceback, and the master would start it again.
            raise AppImportError(f"Infokanal does not start: {error}") from None
        self.asgi = front = Front(wsgi, threads=max(1, self.cfg.threads))
        # The short path signs against PUBLIC_URL (without it, the URL comes from the
        # request and the proxy headers gunicorn weighs) and writes no access log line.
        self.short_status = (front.flask.config["STATUS_SHORT_PATH"] and front.takes_status
                             and bool(front.public_url) and not self.cfg.accesslog)
        self.status_url = front.public_url + STATUS_PATH
        # Meta signs the body alone: its posts need no PUBLIC_URL to be checked.
        self.short_meta = (front.flask.config["STATUS_SHORT_PATH"] and front.takes_meta
                           and not self.cfg.accesslog)
        self.answer_headers = b"".join(
            name + b": " + value + b"\r\n" for name, value in
            [(b"Content-Type", b"text/plain; charset=utf-8"), *front.fixed_headers])
        tune_gc()

    def notify(self):
        super().notify()
        if self.servers and not self._backlog_restored:
            # asyncio's create_server, as gunicorn's worker calls it, listens anew with a
            # queue of 100 connections instead of gunicorn's ``backlog``. A burst of more
            # (callbacks on new connections, or a flood) then has its connection attempts
            # dropped, and each client waits a second or more to try again. The first
            # heartbeat comes right after the servers are made.
            for sock in self.sockets:
                sock.sock.listen(self.cfg.backlog)
            self._backlog_restored = True

    def admit(self, protocol):
        """A new connection. At the limit, the one that has waited longest for a request
        makes room, else the slowest of those reading a body (the newcomer itself when all
        others are busy): a flood of idle connections, or of bodies that do not come, then
        pushes out only itself, while clients that send their request at once (the platform,
        a browser) get through."""
        self.open_connections.add(protocol)
        if len(self.open_connections) > self.connection_limit:
            while len(self.open_connections) > self.connection_limit and self.waiting:
                oldest = next(iter(self.waiting))
                self.release(oldest)
                oldest.hang_up()
            if len(self.open_connections) > self.connection_limit and self.reading:
                self._evict_readers(connections=len(self.open_connections)
                                    - self.connection_limit)
            if len(self.open_connections) > self.connection_limit:
                self.release(protocol)
                protocol.hang_up()
            self._warn("connection limit (%d per worker, from the open files limit) reached: "
                       "closing the connections that waited longest for a request, then the "
                       "slowest reading a body", self.connection_limit)
        if protocol in self.open_connections:
            self.waiting[protocol] = None

    def _warn(self, message, *args):
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            self.log.warning(message, *args)

    def idle(self, protocol):
        if protocol in self.open_connections:
            self.waiting.pop(protocol, None)
            self.waiting[protocol] = None  # to the end: it has waited least

    def busy(self, protocol):
        self.waiting.pop(protocol, None)

    def release(self, protocol):
        self.waiting.pop(protocol, None)
        self.open_connections.discard(protocol)
        self.body_read(protocol)
        self.body_served(protocol)

    def body_started(self, protocol, size, authorized=False):
        """A connection starts to read a body of ``size`` bytes (announced). False when the
        budget has no room even after the slowest readers were let go: the caller refuses.
        ``authorized``: the request carries a token or session the front has checked; other
        bodies count against OPEN_BODY_BUDGET."""
        if not authorized:
            return self._open_body_started(protocol, size)
        if self.body_bytes + size > BODY_BUDGET:
            self._evict_readers(size=self.body_bytes + size - BODY_BUDGET)
            self._warn("request body budget (%d MiB per worker) reached: closing the slowest "
                       "connections reading a body", BODY_BUDGET >> 20)
            if self.body_bytes + size > BODY_BUDGET:
                return False
        self.body_bytes += size
        protocol.body = body = Body(size, time.monotonic())
        self.reading[protocol] = body
        if self._rate_check is None:
            self._rate_check = self.loop.call_later(1.0, self._check_rates)
        return True

    def _open_body_started(self, protocol, size):
        if self.open_body_bytes + size > OPEN_BODY_BUDGET:
            # The oldest still arriving first (``reading`` keeps the order they began in).
            for other, body in list(self.reading.items()):
                if self.open_body_bytes + size <= OPEN_BODY_BUDGET:
                    break
                if not body.authorized:
                    self.release(other)
                    other.hang_up()
            self._warn("budget for bodies without credentials (%d MiB per worker) reached: "
                       "closing the connections that began theirs longest ago",
                       OPEN_BODY_BUDGET >> 20)
            if self.open_body_bytes + size > OPEN_BODY_BUDGET:
                return False
        self.open_body_bytes += size
        protocol.body = body = Body(size, time.monotonic(), authorized=False)
        self.reading[protocol] = body
        if self._rate_check is None:
            self._rate_check = self.loop.call_later(1.0, self._check_rates)
        return True

    def body_read(self, protocol):
        """The body has arrived (or will not): the connection no longer counts as reading."""
        self.reading.pop(protocol, None)

    def body_served(self, protocol):
        """The request is answered: its body's bytes are free again."""
        body = protocol.body
        if body is not None:
            protocol.body = None
            self.reading.pop(protocol, None)
            if body.authorized:
                self.body_bytes -= body.size
            else:
                self.open_body_bytes -= body.size

    def _evict_readers(self, connections=0, size=0):
        """Let go of the slowest readers (fewest bytes a second so far; of equals, the
        oldest) until ``connections`` connections, or ``size`` bytes, are free. To free bytes,
        only readers that have had RATE_GRACE seconds count: a body just begun has had no
        chance to show its rate, and the newcomer is refused instead."""
        now = time.monotonic()
        candidates = sorted(
            (body.received / max(now - body.started, 1.0), n, protocol)
            for n, (protocol, body) in enumerate(self.reading.items())
            if connections or body.authorized and now - body.started >= RATE_GRACE)
        for _, _, protocol in candidates:
            if connections <= 0 and size <= 0:
                break
            size -= protocol.body.size
            connections -= 1
            self.release(protocol)
            protocol.hang_up()

    def _check_rates(self):
        """Once a second: cut the bodies that did not keep MIN_BODY_RATE over the last
        RATE_WINDOW seconds."""
        self._rate_check = None
        now = time.monotonic()
        for protocol, body in list(self.reading.items()):
            if now < body.check_at:
                continue
            due = min(MIN_BODY_RATE * (now - body.marked_at), body.size - body.marked)
            if body.received - body.marked < due:
                self.body_read(protocol)
                protocol.body_too_slow()
            else:
                body.marked_at, body.marked = now, body.received
                body.check_at = now + RATE_WINDOW
        if self.reading:
            self._rate_check = self.loop.call_later(1.0, self._check_rates)


class Body:
    """A request body being read (or held until its request is answered)."""

    __slots__ = ("size", "started", "received", "marked_at", "marked", "check_at", "authorized")

    def __init__(self, size, started, authorized=True):
        self.size = size
        self.authorized = authorized
        self.started = started
        self.received = 0
        # The window the rate is checked over next: from then, with that many bytes, to.
        self.marked_at = started
        self.marked = 0
        self.check_at = started + RATE_GRACE


class Settings:
    """A worker's gunicorn settings, each read once.

    gunicorn's ``Config`` looks a setting up anew at every read, and its protocol reads a dozen
    for every connection: on the storm night, with a connection per status callback, that was
    a tenth of the web process's time. A worker's settings never change (a reload starts new
    workers), so their values are copied here; what ``Config`` computes (its properties and
    methods, ``settings`` itself) is still asked of it.
    """

    def __init__(self, cfg):
        self._cfg = cfg
        config_class = type(cfg)
        for name, setting in cfg.settings.items():
            if not hasattr(config_class, name):  # a property of Config wins, as it does there
                self.__dict__[name] = setting.get()

    def __getattr__(self, name):
        if name == "_cfg":  # not made by __init__ (a copy): nothing to ask
            raise AttributeError(name)
        return getattr(self._cfg, name)


def connection_limit():
    """How many clients a worker can hold before it runs out of file descriptors, at which
    point it could accept no connection at all, not even to close it. Below that, nothing is
    cut off: a burst of the platform's callbacks may well be thousands of connections, each
    with its request on the way."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(1, soft - RESERVED_FILES)


class Logger(GunicornLogger):
    """gunicorn's logger, building access log lines only when there is an access log.

    gunicorn counts any ``logconfig_dict`` as an access log; ours always has one (it masks
    numbers in the error log), so every request paid for a line that no handler wrote.
    """

    def _compute_access_log_enabled(self):
        return bool(self.cfg.accesslog)
