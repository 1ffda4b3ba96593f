"""Status callbacks through the Procfile's web process, as the platform posts them: what is
answered 200 is stored (and stays stored when the process is killed right after), everything
else is refused with a reason and stores nothing."""

import signal
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, WebServer, free_port

STATUS = "/twilio/status"


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake_twilio):
    """One web server for the module: the tests use message ids of their own."""
    from bot.vault import new_key

    workdir = tmp_path_factory.mktemp("callbacks")
    port = free_port()
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_WHATSAPP_FROM": "whatsapp:+4930901820", "TWILIO_API_URL": fake_twilio.url,
           "PUBLIC_URL": f"http://127.0.0.1:{port}", "PORT": str(port),
           "ADMIN_TOKEN": "admin-token-for-tests-" + "x" * 16, "DATA_KEY": new_key(),
           "DATABASE_PATH": str(workdir / "infokanal.db")}
    web = WebServer(env)
    web.env = env
    yield web
    web.stop()


def callback(sid, status, **extra):
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": ACCOUNT_SID, "To": "whatsapp:+4915100000001",
            "From": "whatsapp:+4930901820", "ChannelPrefix": "whatsapp",
            "ApiVersion": "2010-04-01"}
    form.update(extra)
    return form


def post(server, form, token=AUTH_TOKEN, url=None, signature=None, session=None):
    if signature is None:
        signature = RequestValidator(token).compute_signature(
            url or server.public_url + STATUS, form)
    return (session or requests).post(server.url + STATUS, data=form, timeout=15,
                                      headers={"X-Twilio-Signature": signature})


def stored(server, sid):
    with sqlite3.connect(server.env["DATABASE_PATH"]) as conn:
        return conn.execute("SELECT status, error_code, error_kind FROM message_status "
                            "WHERE sid = ?", (sid,)).fetchall()


def test_a_signed_callback_is_answered_200_with_an_empty_body_and_stored(server):
    response = post(server, callback("SM" + "1" * 32, "delivered"))
    assert response.status_code == 200 and response.content == b""
    assert stored(server, "SM" + "1" * 32) == [("delivered", None, None)]


@pytest.mark.parametrize("how", ["unsigned", "forged", "other url", "other account"])
def test_a_callback_without_a_valid_signature_is_403_and_stores_nothing(server, how):
    sid = f"SM{hash(how) & 0xffffffff:032x}"
    form = callback(sid, "read")
    if how == "unsigned":
        response = requests.post(server.url + STATUS, data=form, timeout=15)
    elif how == "forged":
        response = post(server, form, signature="bm90IGEgc2lnbmF0dXJl")
    elif how == "other url":
        response = post(server, form, url="https://elsewhere.example/twilio/status")
    else:
        response = post(server, form, token="another-accounts-token")
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.text
    assert stored(server, sid) == []


def test_a_replayed_callback_is_acknowledged_and_counted_once(server):
    sid = "SM" + "2" * 32
    form = callback(sid, "read")
    assert [post(server, form).status_code for _ in range(3)] == [200, 200, 200]
    with sqlite3.connect(server.env["DATABASE_PATH"]) as conn:
        assert conn.execute("SELECT count(*) FROM message_status WHERE sid = ?",
                            (sid,)).fetchone() == (1,)


def test_out_of_order_callbacks_keep_the_furthest_status(server):
    sid = "SM" + "3" * 32
    for status in ("read", "delivered", "sent", "queued"):
        assert post(server, callback(sid, status)).status_code == 200
    assert stored(server, sid) == [("read", None, None)]


def test_a_failure_keeps_its_code_and_our_kind_for_it(server):
    sid = "SM" + "4" * 32
    assert post(server, callback(sid, "undelivered", ErrorCode="63016")).status_code == 200
    assert stored(server, sid) == [("failed", "63016", "template_needed")]


def test_a_malformed_message_id_is_400_with_a_reason(server):
    response = post(server, callback("SM/../etc", "sent"))
    assert response.status_code == 400 and "MessageSid" in response.text


def test_an_unknown_status_is_acknowledged_and_ignored(server):
    sid = "SM" + "5" * 32
    assert post(server, callback(sid, "teleported")).status_code == 200
    assert stored(server, sid) == []


def test_a_burst_faster_than_one_commit_is_answered_and_stored_whole(server):
    sids = [f"SM{0xb00000 + n:032x}" for n in range(400)]
    forms = [callback(sid, ("sent", "delivered", "read")[n % 3]) for n, sid in enumerate(sids)]
    with ThreadPoolExecutor(64) as pool:
        codes = list(pool.map(lambda form: post(server, form).status_code, forms))
    assert codes == [200] * len(forms)
    with sqlite3.connect(server.env["DATABASE_PATH"]) as conn:
        found = dict(conn.execute(
            "SELECT sid, status FROM message_status WHERE sid IN (SELECT value FROM "
            "json_each(?))", (__import__("json").dumps(sids),)).fetchall())
    assert found == {sid: form["MessageStatus"] for sid, form in zip(sids, forms)}


def test_what_was_answered_200_survives_a_kill_of_the_web_process(env, start_web):
    port = free_port()
    web = start_web(dict(env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}"))
    web.env = env
    sids = [f"SM{0xd00000 + n:032x}" for n in range(200)]
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda sid: post(web, callback(sid, "delivered")).status_code,
                                sids))
    web.send_signal(signal.SIGKILL)
    web.proc.wait(5)
    acknowledged = [sid for sid, code in zip(sids, answers) if code == 200]
    assert len(acknowledged) == len(sids)
    with sqlite3.connect(env["DATABASE_PATH"]) as conn:
        kept = {sid for (sid,) in conn.execute("SELECT sid FROM message_status")}
    assert set(acknowledged) <= kept
