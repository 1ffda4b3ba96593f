"""The web front before a request's body: nothing is read for a request that cannot be
authorized, bodies being read can be evicted at the connection limit and must keep a minimum
rate, the worker's memory stays bounded under a flood of large posts, and requests that are
not what HTTP/1.1 or the platform send (no Host field, the signature field twice) are refused,
on the short path as on gunicorn's.

One web server (gunicorn from the Procfile, one worker, a small open files limit so that its
connection limit is about a hundred) serves the module; every flood is bounded and on 127.0.0.1.
"""

import io
import re
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator

from bot.web.front import BODY_LIMIT, BODY_SECONDS, OPEN_BODY_LIMIT
from bot.web.gunicorn_worker import BODY_BUDGET, OPEN_BODY_BUDGET, RATE_GRACE, RESERVED_FILES
from tests.conftest import (ADMIN_TOKEN, AUTH_TOKEN, OFFICER, OFFICER_PASSWORD, WebServer,
                            csrf_from, free_port)
from tests.slow_clients import assert_service_answers
from tests.test_status_callbacks_e2e import STATUS, callback, stored
from tests.test_status_short_path import read_answer

TOKEN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# The server's open files limit: its connection limit is this less RESERVED_FILES.
SERVER_FILES = 164
ROOMY_FILES = 2048


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_twilio):
    web = start_server(tmp_path_factory, fake_twilio, SERVER_FILES)
    yield web
    web.stop()


@pytest.fixture(scope="module")
def roomy_server(tmp_path_factory, fake_twilio):
    """A server whose connection limit is far above what the bodies' budgets hold, as under
    the shipped systemd unit (LimitNOFILE=65536): there the budget is what a flood meets."""
    web = start_server(tmp_path_factory, fake_twilio, ROOMY_FILES)
    yield web
    web.stop()


def start_server(tmp_path_factory, fake_twilio, files):
    from bot import create_app
    from bot.vault import new_key

    workdir = tmp_path_factory.mktemp("front-gate")
    port = free_port()
    env = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_WHATSAPP_FROM": "whatsapp:+4930901820", "TWILIO_API_URL": fake_twilio.url,
           "PUBLIC_URL": f"http://127.0.0.1:{port}", "PORT": str(port),
           "ADMIN_TOKEN": ADMIN_TOKEN, "DATA_KEY": new_key(),
           "DATABASE_PATH": str(workdir / "infokanal.db"), "WEB_CONCURRENCY": "1"}
    app = create_app(dict(env))
    added = app.test_cli_runner().invoke(args=["users", "add", OFFICER],
                                         input=f"{OFFICER_PASSWORD}\n{OFFICER_PASSWORD}\n")
    assert added.exit_code == 0, added.output
    web = WebServer(env, open_files=files)
    web.env, web.app = env, app
    return web


def worker_pid(server):
    """The gunicorn worker: the only child of the master (the Procfile's process)."""
    master = server.proc.pid
    children = open(f"/proc/{master}/task/{master}/children").read().split()
    assert len(children) == 1, children
    return int(children[0])


def memory(pid, field):
    """VmRSS (now) or VmHWM (the most ever) of a process, in bytes."""
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) * 1024


def raw(server, data):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(data)
    return sock


def answer_of(sock, timeout=10):
    """(status, {lower-case name: value}, body) of the first answer on the connection."""
    sock.settimeout(timeout)
    return read_answer(sock.makefile("rb"))


def post_headers(path, length, *fields):
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/octet-stream",
             f"Content-Length: {length}", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def signed_in(server):
    """A requests session with the console's cookie, signed in through the server."""
    session = requests.Session()
    page = session.get(server.url + "/admin/login", timeout=10)
    answer = session.post(server.url + "/admin/login", allow_redirects=False, timeout=10, data={
        "csrf_token": csrf_from(page.text), "name": OFFICER, "password": OFFICER_PASSWORD})
    assert answer.status_code == 302, answer.text
    return session


# --- before the body -------------------------------------------------------------------------

def test_a_refusal_comes_before_the_body_and_is_the_one_flask_gives(server):
    flask = server.app.test_client()
    # Only the headers go out: the answer must come without the body.
    for path, fields in [("/api/media", ()), ("/api/broadcasts", ("Authorization: Bearer no",)),
                         ("/admin/compose", ()), ("/admin/broadcasts/1/approve", ()),
                         ("/twilio/messages", ())]:
        with raw(server, post_headers(path, 5_000_000, *fields)) as sock:
            status, headers, body = answer_of(sock, timeout=5)
        expected = flask.post(path, headers=[field.split(": ", 1) for field in fields])
        if path.startswith("/admin"):
            # Flask's CSRF check answers first there; the console's own answer to a request
            # without a session is the way to sign in, with the page to come back to.
            assert (status, headers["location"]) == (
                302, "/admin/login?" + urlencode({"next": path})), path
        else:
            assert (status, body) == (expected.status_code, expected.get_data()), path
            assert headers["content-type"] == expected.headers["Content-Type"]
            assert headers.get("www-authenticate") == expected.headers.get("WWW-Authenticate")
        assert headers["connection"] == "close"
        assert "content-security-policy" in headers


def test_an_authorized_upload_and_a_signed_in_console_still_get_their_bodies_read(server):
    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(picture, "PNG")
    upload = requests.post(server.url + "/api/media", headers=TOKEN, timeout=10,
                           files={"file": ("bild.png", picture.getvalue(), "image/png")})
    assert upload.status_code == 201, upload.text
    console = signed_in(server)
    page = console.get(server.url + "/admin/compose", timeout=10)
    assert page.status_code == 200
    posted = console.post(server.url + "/admin/compose", allow_redirects=False, timeout=10,
                          data={"csrf_token": csrf_from(page.text), "text": "Probealarm",
                                "public": "1"})
    # Flask read the form: the confirmation page shows the text.
    assert posted.status_code == 200 and "Probealarm" in posted.text
    console.post(server.url + "/admin/logout", timeout=10,
                 data={"csrf_token": csrf_from(page.text)})
    # Signed out, the same cookie is refused before the body, by the database's word.
    with raw(server, post_headers("/admin/compose", 1_000_000, "Cookie: " + "; ".join(
            f"{name}={value}" for name, value in console.cookies.items()))) as sock:
        status, headers, _ = answer_of(sock, timeout=5)
    assert (status, headers["location"]) == (302, "/admin/login?next=%2Fadmin%2Fcompose")


# --- slots -----------------------------------------------------------------------------------

def test_bodies_that_do_not_come_hold_no_slot_against_healthz_and_webhooks(server):
    limit = SERVER_FILES - RESERVED_FILES
    held = []
    try:
        # Headers of uploads that never send their body: without a token or a session...
        for n in range(limit):
            path = "/api/media" if n % 2 else "/admin/compose"
            held.append(raw(server, post_headers(path, 5_000_000)))
        # ...and with the token, more than the worker has room for (and, at 200 kB each,
        # within its budget of body bytes: these are read, and wait for the rest).
        readers = [raw(server, post_headers("/api/media", 200_000, f"Authorization: "
                                                                      f"Bearer {ADMIN_TOKEN}"))
                   for _ in range(limit + 50)]
        held += readers
        assert_service_answers(server.url, server.public_url)
        # The unauthorized were answered at once; of the readers, the slowest made room.
        for sock in held[:limit]:
            assert answer_of(sock, timeout=5)[0] in (302, 401)
        time.sleep(0.2)  # for the closes to arrive
        fates = [_fate(sock) for sock in readers]
        assert fates.count("closed") >= 50 and "answered" not in fates
    finally:
        for sock in held:
            sock.close()


def _fate(sock):
    sock.settimeout(None)  # else MSG_DONTWAIT waits for the timeout
    try:
        return "answered" if sock.recv(1, socket.MSG_DONTWAIT) else "closed"
    except ConnectionResetError:
        return "closed"
    except BlockingIOError:
        return "open"


# --- memory ----------------------------------------------------------------------------------

def test_a_flood_of_large_unauthorized_posts_leaves_the_workers_memory_bounded(server):
    pid = worker_pid(server)
    with open(f"/proc/{pid}/clear_refs", "w") as clear:
        clear.write("5")  # VmHWM starts again from VmRSS
    before = memory(pid, "VmHWM")
    body = b"x" * 5_500_000

    def post(n):
        path = "/api/media" if n % 2 else "/admin/compose"
        try:
            return requests.post(server.url + path, data=body, allow_redirects=False,
                                 timeout=30, headers={"Content-Type": "image/jpeg"}).status_code
        except requests.ConnectionError:
            return "reset"

    with ThreadPoolExecutor(25) as pool:
        statuses = list(pool.map(post, range(100)))
    peak = memory(pid, "VmHWM")
    print(f"worker memory: {before / 1e6:.0f} MB, peak {peak / 1e6:.0f} MB")
    # None of their bodies kept: 25 at a time, 5.5 MB each, would be 137 MB...
    assert peak - before < 30_000_000, f"{before / 1e6:.0f} MB → peak {peak / 1e6:.0f} MB"
    # ...and every one answered (the client saw the answer, not a reset).
    assert set(statuses) <= {302, 401}, statuses
    assert_service_answers(server.url, server.public_url, rounds=1)


def test_bodies_beyond_the_workers_budget_are_503_until_room_is_made(server):
    # Uploads at their largest, with the token, whose bodies do not come: the budget holds
    # twelve; the thirteenth is told to come back (none of the twelve has had its 10 s yet).
    size = 5_200_000
    fits = BODY_BUDGET // size
    held = [raw(server, post_headers("/api/media", size, f"Authorization: Bearer {ADMIN_TOKEN}"))
            for _ in range(fits)]
    try:
        time.sleep(0.3)
        assert [_fate(sock) for sock in held] == ["open"] * fits
        with raw(server, post_headers("/api/media", size,
                                      f"Authorization: Bearer {ADMIN_TOKEN}")) as sock:
            status, headers, _ = answer_of(sock)
        assert (status, headers["retry-after"]) == (503, "5")
    finally:
        for sock in held:
            sock.close()
    # Gone, they make room again.
    time.sleep(0.3)
    with raw(server, post_headers("/api/media", 10, f"Authorization: Bearer {ADMIN_TOKEN}")
             + b"not a pic!") as sock:
        assert answer_of(sock)[0] == 400


def test_bodies_anyone_may_send_cannot_keep_out_webhooks_and_callbacks(roomy_server):
    # Headers of bodies that need no credential before they are read (signing in and out, a
    # webhook with a made-up signature), and then nothing. First at the size other paths
    # take: more than the budget of all bodies holds, were they let in.
    server = roomy_server
    anyone = [("/admin/login", ()), ("/admin/logout", ()),
              ("/twilio/messages", ("X-Twilio-Signature: Zm9vYmFy",))]

    def flood(count, size):
        held = []
        for n in range(count):
            path, fields = anyone[n % len(anyone)]
            held.append(raw(server, post_headers(path, size, *fields)))
        return held

    def service_answers(sid):
        assert_service_answers(server.url, server.public_url, rounds=3)
        form = callback(sid, "delivered")
        sign = f"X-Twilio-Signature: {signature(server, form)}"
        with raw(server, signed_callback(server, form, ["Host: 127.0.0.1", sign])) as sock:
            assert answer_of(sock)[0] == 200
        assert stored(server, sid) == [("delivered", None, None)]

    held = flood(BODY_BUDGET // BODY_LIMIT + 40, BODY_LIMIT)
    try:
        service_answers("SM" + "e1" * 16)
        # Each was told at once that its body is too large.
        assert {answer_of(sock, timeout=5)[0] for sock in held} == {413}
    finally:
        for sock in held:
            sock.close()
    # Then at the most they may send: more than their own budget holds. The oldest make room.
    held = flood(OPEN_BODY_BUDGET // OPEN_BODY_LIMIT + 40, OPEN_BODY_LIMIT)
    try:
        service_answers("SM" + "e2" * 16)
        time.sleep(0.2)  # for the closes to arrive
        fates = [_fate(sock) for sock in held]
        assert fates[:40].count("closed") == 40 and "answered" not in fates
    finally:
        for sock in held:
            sock.close()


# --- rate ------------------------------------------------------------------------------------

def test_an_authorized_upload_that_trickles_is_cut_at_the_minimum_rate(server):
    sock = raw(server, post_headers("/api/media", 1_000_000, f"Authorization: Bearer {ADMIN_TOKEN}"))
    started = time.monotonic()
    with sock:
        # 50 bytes a second, far below the minimum; the upload's deadline is a minute.
        # poll, not select: this process may hold more than select's 1,024 descriptors by now.
        readable = select.poll()
        readable.register(sock, select.POLLIN)
        while not readable.poll(200):
            assert time.monotonic() - started < RATE_GRACE + 10, "not cut"
            sock.sendall(b"x" * 10)
        status, _, body = answer_of(sock)
    waited = time.monotonic() - started
    assert (status, body) == (408, b"request body too slow\n")
    assert RATE_GRACE - 1 <= waited <= RATE_GRACE + 5


# --- Host and signature ----------------------------------------------------------------------

def signed_callback(server, form, fields):
    body = urlencode(form).encode()
    head = [f"POST {STATUS} HTTP/1.1", *fields, "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def signature(server, form, path=STATUS):
    return RequestValidator(AUTH_TOKEN).compute_signature(server.public_url + path, form)


def test_an_http_1_1_request_without_host_is_400_on_either_path(server):
    form = callback("SM" + "d1" * 16, "delivered")
    sign = f"X-Twilio-Signature: {signature(server, form)}"
    with raw(server, signed_callback(server, form, [sign])) as sock:
        status, _, body = answer_of(sock)
    assert status == 400 and b"Host" in body
    assert stored(server, form["MessageSid"]) == []
    with raw(server, b"GET /healthz HTTP/1.1\r\n\r\n") as sock:
        assert answer_of(sock)[0] == 400
    # HTTP/1.0 has no Host field to require.
    with raw(server, b"GET /healthz HTTP/1.0\r\n\r\n") as sock:
        assert answer_of(sock)[0] == 200


def test_a_callback_or_webhook_signed_twice_is_refused_on_every_path(server):
    form = callback("SM" + "d2" * 16, "delivered")
    sign = f"X-Twilio-Signature: {signature(server, form)}"
    # The short path (both fields carry the right signature: neither may be picked).
    with raw(server, signed_callback(server, form, ["Host: 127.0.0.1", sign, sign])) as sock:
        short = answer_of(sock)
    # gunicorn's path (a chunked body), the front's status path.
    body = urlencode(form).encode()
    chunked = (f"POST {STATUS} HTTP/1.1\r\nHost: 127.0.0.1\r\n{sign}\r\n{sign}\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\n"
               "Transfer-Encoding: chunked\r\n\r\n").encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (
                   len(body), body)
    with raw(server, chunked) as sock:
        long = answer_of(sock)
    for status, _, text in (short, long):
        assert (status, text) == (400, b"bad request: X-Twilio-Signature given more than once\n")
    assert stored(server, form["MessageSid"]) == []
    # Flask's webhook, behind the front and on its own.
    citizen = {"MessageSid": "SM" + "d3" * 16, "AccountSid": "AC" + "0" * 32,
               "From": "whatsapp:+4915100000009", "To": "whatsapp:+4930901820", "Body": "Start"}
    good = signature(server, citizen, "/twilio/messages")
    body = urlencode(citizen).encode()
    with raw(server, post_headers("/twilio/messages", len(body), *[
            f"X-Twilio-Signature: {good}"] * 2).replace(
                b"application/octet-stream", b"application/x-www-form-urlencoded") + body) as sock:
        status, _, text = answer_of(sock)
    assert (status, text) == (400, b"bad request: X-Twilio-Signature given more than once\n")
    flask = server.app.test_client().post(
        "/twilio/messages", data=citizen,
        headers=[("X-Twilio-Signature", good), ("X-Twilio-Signature", "forged")])
    assert flask.status_code == 400 and "more than once" in flask.get_data(as_text=True)
