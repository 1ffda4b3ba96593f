"""The gunicorn worker class of the web process (``gunicorn.conf.py`` names it).

gunicorn's own asyncio worker, which multiplexes connections on an event loop, running our
``Front`` around the Flask app that ``wsgi:app`` loads, so that the Procfile's command and
``wsgi.py`` stay what they were. ``threads`` (``WEB_THREADS``) sizes the pool that runs Flask.

What gunicorn's asyncio worker lacks against slow and idle clients is added here: a deadline
for a request's headers and a ceiling on connections below the open files limit
(``FrontProtocol``), and gunicorn's own listen queue (``notify``).
"""

import resource
import time

from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers import gasgi
from gunicorn.workers.gasgi import ASGIWorker

from ..process import tune_gc
from .front import Front

# How long after connecting a client may take to send its first request's headers. Later
# requests on a kept-alive connection get gunicorn's ``keepalive`` seconds instead.
HEADER_SECONDS = 10.0
# File descriptors a worker keeps for everything but its clients: the listening socket, the
# database (three files per connection, one connection per thread), logs.
RESERVED_FILES = 64
WARN_EVERY_SECONDS = 60.0


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
        self.connection_limit = connection_limit()
        self.open_connections = set()
        # Connections waiting for a request (none yet, or the next one), the oldest first.
        self.waiting = {}
        self._warned_at = -WARN_EVERY_SECONDS
        self._backlog_restored = False
        super().init_process()

    def load_wsgi(self):
        self.asgi = Front(self.app.wsgi(), threads=max(1, self.cfg.threads))
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
        makes room (the newcomer itself when all others are busy): a flood of idle
        connections then pushes out only itself, while clients that send their request at
        once (the platform, a browser) get through."""
        self.open_connections.add(protocol)
        self.waiting[protocol] = None
        if len(self.open_connections) <= self.connection_limit:
            return
        while len(self.open_connections) > self.connection_limit and self.waiting:
            oldest = next(iter(self.waiting))
            self.release(oldest)
            oldest.hang_up()
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            self.log.warning("connection limit (%d per worker, from the open files limit) "
                             "reached: closing the connections that waited longest for a "
                             "request", self.connection_limit)

    def idle(self, protocol):
        if protocol in self.open_connections:
            self.waiting.pop(protocol, None)
            self.waiting[protocol] = None  # to the end: it has waited least

    def busy(self, protocol):
        self.waiting.pop(protocol, None)

    def release(self, protocol):
        self.waiting.pop(protocol, None)
        self.open_connections.discard(protocol)


def find_c_parser():
    """Let gunicorn find its C HTTP parser (gunicorn_h1c) for our protocol class too.

    gunicorn looks for it on the class that runs, which is ours, but reads the answer from
    ASGIProtocol itself: asked from a subclass, it always took its Python parser, which cost
    a tenth of the CPU of a status callback. Asked once on its own class, the answer is
    where it is read, and our class inherits it."""
    ASGIProtocol._check_h1c_protocol_available()


def connection_limit():
    """How many clients a worker can hold before it runs out of file descriptors, at which
    point it could accept no connection at all, not even to close it. Below that, nothing is
    cut off: a burst of the platform's callbacks may well be thousands of connections, each
    with its request on the way."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(1, soft - RESERVED_FILES)


class FrontProtocol(ASGIProtocol):
    """gunicorn's HTTP/1 connection, with a deadline for the first request's headers and the
    worker's connection limit.

    gunicorn times the wait for a kept-alive connection's next request (``keepalive``), but
    not for the first one: a client that connects and sends nothing, or sends a header a
    byte at a time, held its connection for as long as it liked.
    """

    def connection_made(self, transport):
        super().connection_made(transport)
        if self._request_ready is None:
            return  # not HTTP/1; gunicorn.conf.py enables nothing else
        # The same timer gunicorn arms before a kept-alive connection's next request: it
        # closes the connection unless the request's headers are complete in time.
        self._keepalive_handle = self.worker.loop.call_later(HEADER_SECONDS,
                                                             self._keepalive_timeout)
        self.worker.admit(self)

    def _arm_keepalive_timer(self):
        super()._arm_keepalive_timer()
        self.worker.idle(self)

    def _on_headers_complete(self):
        self.worker.busy(self)
        return super()._on_headers_complete()

    def connection_lost(self, exc):
        self.worker.release(self)
        super().connection_lost(exc)

    def hang_up(self):
        self._keepalive_timeout()


class Logger(GunicornLogger):
    """gunicorn's logger, building access log lines only when there is an access log.

    gunicorn counts any ``logconfig_dict`` as an access log; ours always has one (it masks
    numbers in the error log), so every request paid for a line that no handler wrote.
    """

    def _compute_access_log_enabled(self):
        return bool(self.cfg.accesslog)
