"""The slow-client attack on a running web service, and the probes that must still get through.

``Attack`` holds connections open the way a cheap attacker would: some connect and send
nothing, some send a request's headers a piece at a time and never finish, some announce a
body of 100,000 bytes and send three. The probes are what the service is there for:
``GET /healthz`` and a citizen's signed webhook, each on a connection of its own.
"""

import errno
import socket
import time

import requests

from tests.conftest import Citizen

PROBE_SECONDS = 1.0


class Attack:
    def __init__(self, port, idle=300, slow_body=20, slow_headers=0, host="127.0.0.1",
                 host_header="infokanal.example.de"):
        self.address = (host, port)
        self.host_header = host_header
        self.counts = {"idle": idle, "slow_body": slow_body, "slow_headers": slow_headers}
        self.sockets = {"idle": [], "slow_body": [], "slow_headers": []}
        self.received = {}

    def __enter__(self):
        try:
            for _ in range(self.counts["idle"]):
                self._open("idle")
            for _ in range(self.counts["slow_headers"]):
                self._open("slow_headers").sendall(
                    f"GET /healthz HTTP/1.1\r\nHost: {self.host_header}\r\nX-Wait: ".encode())
            for _ in range(self.counts["slow_body"]):
                # Signed (falsely): a webhook without the field is refused before its body.
                self._open("slow_body").sendall(
                    f"POST /twilio/messages HTTP/1.1\r\nHost: {self.host_header}\r\n"
                    "X-Twilio-Signature: c2lnbmVk\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 50000\r\n\r\nFro".encode())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _open(self, kind):
        sock = socket.create_connection(self.address, timeout=5)
        # Blocking, so that MSG_DONTWAIT alone decides: a timeout would make recv wait.
        sock.settimeout(None)
        self.sockets[kind].append(sock)
        return sock

    def close(self):
        for sockets in self.sockets.values():
            for sock in sockets:
                sock.close()
            sockets.clear()

    def all(self):
        return [sock for sockets in self.sockets.values() for sock in sockets]

    def closed_by_server(self, kind):
        """How many of ``kind`` the server has closed (reading what it sent before)."""
        return sum(self._closed(sock) for sock in self.sockets[kind])

    def answers(self, kind):
        """What the server sent on each connection of ``kind`` so far."""
        return [self.received.get(sock, b"") for sock in self.sockets[kind]]

    def _closed(self, sock):
        try:
            while True:
                chunk = sock.recv(65536, socket.MSG_DONTWAIT)
                if not chunk:
                    return True
                self.received[sock] = self.received.get(sock, b"") + chunk
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.ECONNRESET, errno.EPIPE):
                return True
            raise


def probe(base_url, public_url, host_header=None):
    """GET /healthz and a signed Start, each on a new connection; returns their seconds."""
    headers = {"Host": host_header} if host_header else {}

    def post(path, params, extra):
        return requests.post(base_url + path, data=params, headers={**headers, **extra},
                             timeout=PROBE_SECONDS * 3)

    started = time.monotonic()
    health = requests.get(base_url + "/healthz", headers=headers, timeout=PROBE_SECONDS * 3)
    health_seconds = time.monotonic() - started
    assert health.status_code == 200, health.text
    started = time.monotonic()
    webhook = Citizen(post, public_url=public_url).send("Start")
    webhook_seconds = time.monotonic() - started
    assert webhook.status_code == 200, webhook.text
    assert "<Message>" in webhook.text  # the welcome: handled, not just accepted
    return health_seconds, webhook_seconds


def assert_service_answers(base_url, public_url, rounds=5, host_header=None):
    """Every probe of several rounds answers within PROBE_SECONDS."""
    times = [probe(base_url, public_url, host_header) for _ in range(rounds)]
    slowest = max(max(pair) for pair in times)
    assert slowest < PROBE_SECONDS, f"slowest probe {slowest:.2f} s: {times}"
    return times
