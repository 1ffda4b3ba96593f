"""Slow and idle clients cannot take the web process down: straight on its port, as many small
deployments expose it, the platform's webhooks and /healthz still answer within a second."""

import contextlib
import os
import resource
import signal
import socket
import time

from bot.web import front
from bot.web.connection import HEADER_SECONDS
from bot.web.gunicorn_worker import RESERVED_FILES
from tests.conftest import PUBLIC_URL, Process, free_port, wait_for
from tests.slow_clients import Attack, assert_service_answers


def test_idle_and_slow_clients_leave_the_web_port_answering(env, start_web):
    web = start_web(env)
    with Attack(web.port, idle=300, slow_body=20, slow_headers=20) as attack:
        assert_service_answers(web.url, web.public_url)
        # And none of them is held for long: unfinished headers and silence are cut off
        # after HEADER_SECONDS, a body that does not arrive is answered 408.
        wait_for(lambda: all(attack.closed_by_server(kind) == len(attack.sockets[kind])
                             for kind in attack.sockets),
                 timeout=max(HEADER_SECONDS, front.BODY_SECONDS) + 5, interval=0.25,
                 message="the server to close every attacking connection")
        assert {answer.split(b"\r\n")[0] for answer in attack.answers("slow_body")} \
            == {b"HTTP/1.1 408 Request Timeout"}
        assert set(attack.answers("idle")) == {b""}
        assert_service_answers(web.url, web.public_url, rounds=1)


def test_a_burst_of_connections_waits_in_the_queue_not_for_a_retry(env, start_web):
    # The kernel drops a connection attempt beyond the listen queue; the client tries again
    # only a second later. gunicorn asks for 2,048; asyncio's server had made it 100.
    web = start_web(dict(env, WEB_CONCURRENCY="1"))
    sockets, slowest = [], 0.0
    try:
        for _ in range(1000):
            started = time.monotonic()
            sockets.append(socket.create_connection(("127.0.0.1", web.port), timeout=5))
            slowest = max(slowest, time.monotonic() - started)
    finally:
        for sock in sockets:
            sock.close()
    assert slowest < 0.5, f"a connection took {slowest:.2f} s"


@contextlib.contextmanager
def file_limit(soft):
    """Processes started inside inherit ``soft`` as their limit of open files."""
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


def test_more_idle_clients_than_a_worker_has_files_for_cannot_lock_others_out(env):
    # A worker that takes every connection offered runs out of file descriptors and then
    # accepts none at all; systemd's default limit is 1,024. Before that, the connections
    # that have waited longest for a request make room for new ones.
    soft = max(256, len(os.listdir("/proc/self/fd")) + 64)  # room for this process meanwhile
    limit = soft - RESERVED_FILES
    port = free_port()
    with file_limit(soft):
        web = Process("web", dict(env, PORT=port, HOST="127.0.0.1", WEB_CONCURRENCY="1"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=30, message="web to start")
        with Attack(port, idle=limit + 200, slow_body=0) as attack:
            assert_service_answers(url, PUBLIC_URL)
            assert attack.closed_by_server("idle") >= 200
        assert f"connection limit ({limit} per worker, from the open files limit) reached" \
            in web.output()
    finally:
        web.stop(signal.SIGQUIT, 3)


def _answers(url):
    import requests

    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False
