"""Status callbacks on the web process's short path (``FrontProtocol``), at the HTTP level:
kept-alive and pipelined connections, closing ones, a client that leaves, a failed write, and
the requests that take gunicorn's path instead (chunked), all answered as the ASGI path answers
them. Raw sockets, because what matters here is what is on the wire, in which order."""

import socket
import sqlite3
import time
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import AUTH_TOKEN, WebServer, free_port, wait_for
from tests.test_status_callbacks_e2e import STATUS, callback, stored

SECURITY_HEADERS = ("x-content-type-options", "content-security-policy", "referrer-policy")


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_twilio):
    from bot.vault import new_key

    workdir = tmp_path_factory.mktemp("short-path")
    port = free_port()
    env = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_WHATSAPP_FROM": "whatsapp:+4930901820", "TWILIO_API_URL": fake_twilio.url,
           "PUBLIC_URL": f"http://127.0.0.1:{port}", "PORT": str(port),
           "ADMIN_TOKEN": "admin-token-for-tests-" + "x" * 16, "DATA_KEY": new_key(),
           "DATABASE_PATH": str(workdir / "infokanal.db"), "WEB_CONCURRENCY": "1"}
    web = WebServer(env)
    web.env = env
    yield web
    web.stop()


def signed(server, form, version="1.1", headers=(), chunked=False, signature=None):
    """A status callback's bytes, as the platform would send them."""
    body = urlencode(form).encode()
    if signature is None:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            server.public_url + STATUS, form)
    lines = [f"POST {STATUS} HTTP/{version}", "Host: 127.0.0.1",
             "Content-Type: application/x-www-form-urlencoded",
             f"X-Twilio-Signature: {signature}", *headers]
    if chunked:
        half = len(body) // 2
        lines.append("Transfer-Encoding: chunked")
        body = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                        for part in (body[:half], body[half:])) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def connect(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock, sock.makefile("rb")


def read_answer(reader):
    """(status, {lower-case name: value}, body) of the next answer on the connection."""
    status_line = reader.readline()
    assert status_line, "the server closed the connection without an answer"
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, value = line.decode("latin-1").split(":", 1)
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", 0)))
    return int(status_line.split()[1]), headers, body


def closed_by_server(sock):
    sock.settimeout(5)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def sid(n):
    return f"SM{0x5a0000 + n:032x}"


def test_callbacks_pipelined_on_one_connection_are_answered_in_order_and_stored(server):
    forms = [callback(sid(n), status) for n, status in enumerate(("sent", "delivered", "read"))]
    forms.append(callback(sid(3), "sent", MessageSid="SM-not-an-id"))
    sock, reader = connect(server)
    with sock:
        sock.sendall(b"".join(signed(server, form) for form in forms)
                     + b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answers = [read_answer(reader) for _ in range(5)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 400, 200]
    # The callbacks were the short path's (no Server field), the page gunicorn's.
    assert ["server" in headers for _, headers, _ in answers] == [False] * 4 + [True]
    assert answers[3][2].startswith(b"bad request: ")
    assert [stored(server, sid(n)) for n in range(4)] == [
        [("sent", None, None)], [("delivered", None, None)], [("read", None, None)], []]


def test_a_kept_alive_connection_serves_callbacks_and_pages_in_turn(server):
    sock, reader = connect(server)
    with sock:
        sock.sendall(signed(server, callback(sid(10), "delivered")))
        first = read_answer(reader)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        page = read_answer(reader)
        sock.sendall(signed(server, callback(sid(11), "read")))
        last = read_answer(reader)
    assert (first[0], page[0], last[0]) == (200, 200, 200)
    # Once gunicorn's path has served the connection, it serves the rest too.
    assert ("server" in first[1], "server" in last[1]) == (False, True)
    assert "close" not in (first[1].get("connection"), last[1].get("connection"))
    assert stored(server, sid(10)) == [("delivered", None, None)]
    assert stored(server, sid(11)) == [("read", None, None)]


def test_the_short_path_answers_as_gunicorns_path_does(server):
    """A chunked callback takes gunicorn's path; the answer is the same but for its Server
    field, which the short path leaves out."""
    answers = {}
    for n, chunked in enumerate((False, True)):
        sock, reader = connect(server)
        with sock:
            sock.sendall(signed(server, callback(sid(20 + n), "sent"), chunked=chunked))
            answers[chunked] = read_answer(reader)
    (short_status, short_headers, short_body), (status, headers, body) = answers.values()
    assert (short_status, short_body) == (status, body) == (200, b"")
    headers.pop("server", None)
    assert short_headers.keys() == headers.keys()
    assert all(short_headers[name] == headers[name] for name in headers if name != "date")
    assert set(SECURITY_HEADERS) <= short_headers.keys()
    assert stored(server, sid(20)) == stored(server, sid(21)) == [("sent", None, None)]


@pytest.mark.parametrize("chunked", [False, True], ids=["short path", "gunicorn's path"])
def test_a_forged_callback_is_403_on_either_path(server, chunked):
    sock, reader = connect(server)
    with sock:
        sock.sendall(signed(server, callback(sid(30 + chunked), "read"), chunked=chunked,
                            signature="forged"))
        status, _, body = read_answer(reader)
    assert (status, body) == (403, b"forbidden: missing or invalid X-Twilio-Signature\n")
    assert stored(server, sid(30 + chunked)) == []


@pytest.mark.parametrize("version, headers", [("1.1", ["Connection: close"]), ("1.0", [])],
                         ids=["Connection: close", "HTTP/1.0"])
def test_a_callback_that_asks_for_no_keep_alive_is_answered_and_the_connection_closed(
        server, version, headers):
    n = 40 + len(headers)
    sock, reader = connect(server)
    with sock:
        sock.sendall(signed(server, callback(sid(n), "delivered"), version, headers))
        status, answer_headers, _ = read_answer(reader)
        assert closed_by_server(sock)
    assert (status, answer_headers["connection"]) == (200, "close")
    assert stored(server, sid(n)) == [("delivered", None, None)]


def test_a_client_gone_before_the_commit_leaves_its_complete_callback_stored(server):
    for n in range(50, 60):
        sock, _ = connect(server)
        sock.sendall(signed(server, callback(sid(n), "read")))
        sock.close()
    wait_for(lambda: all(stored(server, sid(n)) for n in range(50, 60)), timeout=5,
             message="the callbacks of the clients that left to be stored")
    sock, reader = connect(server)
    with sock:
        sock.sendall(signed(server, callback(sid(60), "read")))
        assert read_answer(reader)[0] == 200


def test_a_callback_whose_write_fails_is_503_and_the_next_one_is_stored(server):
    failing = sid(70)
    with sqlite3.connect(server.env["DATABASE_PATH"]) as conn:
        conn.execute(f"CREATE TRIGGER test_fail BEFORE INSERT ON message_status "
                     f"WHEN NEW.sid = '{failing}' BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    try:
        sock, reader = connect(server)
        with sock:
            sock.sendall(signed(server, callback(failing, "read")))
            status, headers, body = read_answer(reader)
            assert (status, body) == (503, b"status not stored, try again\n")
            assert "server" not in headers
            # The connection goes on: the platform may post the next callback on it.
            sock.sendall(signed(server, callback(sid(71), "read")))
            assert read_answer(reader)[0] == 200
    finally:
        with sqlite3.connect(server.env["DATABASE_PATH"]) as conn:
            conn.execute("DROP TRIGGER test_fail")
    assert stored(server, failing) == []
    assert stored(server, sid(71)) == [("read", None, None)]


def test_a_callback_body_that_stops_half_way_is_answered_408_and_stores_nothing(server):
    from bot.web.front import BODY_SECONDS

    whole = signed(server, callback(sid(80), "read"))
    sock, reader = connect(server)
    sock.settimeout(BODY_SECONDS + 10)
    with sock:
        sock.sendall(whole[:-10])
        started = time.monotonic()
        status, headers, body = read_answer(reader)
        waited = time.monotonic() - started
        assert closed_by_server(sock)
    assert (status, headers["connection"], body) == (408, "close", b"request body too slow\n")
    assert BODY_SECONDS - 1 <= waited <= BODY_SECONDS + 5
    assert stored(server, sid(80)) == []


def test_with_the_short_path_off_callbacks_take_gunicorns_path_and_are_stored(server):
    port = free_port()
    env = dict(server.env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}",
               STATUS_SHORT_PATH="0")
    web = WebServer(env)
    try:
        web.env = env
        sock, reader = connect(web)
        with sock:
            sock.sendall(signed(web, callback(sid(90), "delivered")))
            status, headers, _ = read_answer(reader)
    finally:
        web.stop()
    # gunicorn names itself in its answers; the short path does not.
    assert status == 200 and headers.get("server", "").startswith("gunicorn")
    assert stored(server, sid(90)) == [("delivered", None, None)]


# gunicorn.conf.py as the Procfile's web reads it, and a hook in each worker that writes down
# how many objects each run of the cyclic garbage collector found, run as often as Python's
# default would.
COUNTING_COLLECTOR = """
import gc
import os

exec(open(os.path.join(os.getcwd(), "gunicorn.conf.py")).read())


def post_worker_init(worker):
    found = open(os.environ["GC_FOUND"], "a", buffering=1)
    found.write("0\\n")
    gc.set_threshold(700)

    def count(phase, info):
        if phase == "stop" and info["collected"]:
            found.write(f"{info['collected']}\\n")

    gc.callbacks.append(count)
"""


def test_a_connection_the_short_path_served_is_freed_when_it_closes(server, tmp_path):
    # Freed by reference counting, not left for the cyclic collector: on the storm night,
    # a connection per callback, the collector's runs cost a tenth of the web process.
    config, found = tmp_path / "gunicorn-counting.conf.py", tmp_path / "collected"
    config.write_text(COUNTING_COLLECTOR)
    port = free_port()
    env = dict(server.env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}",
               GUNICORN_CMD_ARGS=f"-c {config}", GC_FOUND=str(found))
    web = WebServer(env)
    web.env = env
    try:
        for n in range(300):
            sock, reader = connect(web)
            with sock:
                sock.sendall(signed(web, callback(sid(1000 + n), "sent"),
                                    headers=["Connection: close"]))
                status, headers, _ = read_answer(reader)
            assert status == 200 and "server" not in headers
    finally:
        web.stop()
    assert found.exists(), "the counting hook did not run"
    # Left to the collector, each connection was two dozen objects (7,000 for these 300).
    assert sum(int(line) for line in found.read_text().split()) < 300
    assert stored(server, sid(1299)) == [("sent", None, None)]


# --- only the configured platform's webhooks, on every path ---------------------------------------

@pytest.fixture(scope="module")
def meta_server(tmp_path_factory):
    """A Meta deployment with Twilio's settings left over from before the switch, PUBLIC_URL
    set: without the rule, the short path would take Twilio's callbacks."""
    from bot.vault import new_key
    from tests.test_meta_webhook import meta_settings

    workdir = tmp_path_factory.mktemp("meta-short-path")
    port = free_port()
    env = meta_settings({
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+4930901820", "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port), "ADMIN_TOKEN": "admin-token-for-tests-" + "x" * 16,
        "DATA_KEY": new_key(), "DATABASE_PATH": str(workdir / "infokanal.db"),
        "WEB_CONCURRENCY": "1"})
    web = WebServer(env)
    web.env = env
    yield web
    web.stop()


def _empty_post(path, *fields):
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *fields,
                        "Content-Length: 0", "", ""]).encode()


@pytest.mark.parametrize("framing", ["short path", "chunked", "empty"])
def test_on_meta_twilios_callbacks_are_404_on_every_path(meta_server, framing):
    """Signed with the Twilio token left over: the short path (a body of known length), the
    gate before gunicorn's (chunked), the front's status path (no body, past the gate)."""
    sid_ = sid(60 + ["short path", "chunked", "empty"].index(framing))
    form = callback(sid_, "read")
    if framing == "empty":
        data = _empty_post(STATUS, "X-Twilio-Signature: x")
    else:
        data = signed(meta_server, form, chunked=framing == "chunked")
    sock, reader = connect(meta_server)
    with sock:
        sock.sendall(data)
        status, headers, body = read_answer(reader)
    assert status == 404 and headers["content-type"].startswith("application/json"), body
    assert stored(meta_server, sid_) == []


def test_on_meta_twilios_message_webhook_is_404_before_its_body(meta_server):
    lines = ["POST /twilio/messages HTTP/1.1", "Host: 127.0.0.1", "X-Twilio-Signature: x",
             "Content-Type: application/x-www-form-urlencoded", f"Content-Length: {10 << 20}"]
    sock, reader = connect(meta_server)
    with sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sock.settimeout(5)
        status, headers, _ = read_answer(reader)
    assert status == 404 and headers["connection"] == "close"


@pytest.mark.parametrize("framing", ["with a body", "empty"])
def test_on_twilio_metas_webhook_is_404_on_every_path(server, framing):
    body = b'{"object": "whatsapp_business_account", "entry": []}'
    signature = "X-Hub-Signature-256: sha256=" + "0" * 64
    if framing == "empty":
        data = _empty_post("/meta/webhook", signature)
    else:
        data = ("\r\n".join(["POST /meta/webhook HTTP/1.1", "Host: 127.0.0.1", signature,
                             "Content-Type: application/json", f"Content-Length: {len(body)}",
                             "", ""])).encode() + body
    sock, reader = connect(server)
    with sock:
        sock.sendall(data)
        status, _, _ = read_answer(reader)
    assert status == 404
    handshake = server.session.get(server.url + "/meta/webhook", timeout=10, params={
        "hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": ""})
    assert handshake.status_code == 404
