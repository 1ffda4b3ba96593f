"""Only ever one sender on a database, and scripts/run starts none without a web server."""

import os
import signal
import socket
import subprocess
import time
from collections import Counter

from tests.conftest import ROOT, Process, free_port, wait_for


def received(api):
    return Counter(m["To"] for m in api.messages)


def test_a_second_worker_refuses_mid_broadcast_and_no_one_gets_it_twice(env, twilio_api,
                                                                        start_web):
    web = start_web(dict(env, SEND_RATE_LIMIT="40"))
    people = [web.citizen() for _ in range(60)]
    for person in people:
        assert person.send("Start").status_code == 200
    answer = web.api("POST", "/api/broadcasts", json={"text": "Hochwasser"}).json()
    first = Process("worker", dict(env, SEND_RATE_LIMIT="40"))
    second = None
    try:
        wait_for(lambda: len(twilio_api.messages) >= 10, message="the first sender under way")
        started = time.monotonic()
        second = Process("worker", dict(env, SEND_RATE_LIMIT="40"))
        assert second.proc.wait(15) != 0
        assert time.monotonic() - started < 15
        output = second.output()
        assert "a sender is already running" in output
        assert f"{env['DATABASE_PATH']}-sender.lock" in output
        assert f"process {first.proc.pid}" in output
        wait_for(lambda: web.api("GET", f"/api/broadcasts/{answer['id']}").json()["status"]
                 == "done", timeout=30, message="the broadcast finished")
    finally:
        first.stop()
        if second is not None:
            second.stop()
    counts = received(twilio_api)
    assert set(counts) == {f"whatsapp:{p.number}" for p in people}
    assert max(counts.values()) == 1, "nobody got it twice"
    detail = web.api("GET", f"/api/broadcasts/{answer['id']}").json()
    assert detail["retries_unknown"] == 0


def test_a_killed_sender_is_replaced_by_the_next_start_at_once(env, twilio_api, start_web):
    web = start_web(env)
    person = web.citizen()
    person.send("Start")
    killed = Process("worker", env)
    wait_for(lambda: "Sender running" in killed.output(), message="the first sender")
    killed.send_signal(signal.SIGKILL)
    killed.proc.wait(5)
    killed.stop()
    web.api("POST", "/api/broadcasts", json={"text": "Nach dem Absturz"})
    after = Process("worker", env)
    try:
        wait_for(lambda: len(twilio_api.messages) == 1, timeout=15, message="the next sender")
        assert "already running" not in after.output()
    finally:
        after.stop()


def test_scripts_run_starts_no_sender_when_the_web_server_cannot_start(env, tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        full_env.update(env, PORT=str(port), HOST="127.0.0.1")
        # Its own session: the script ends with "kill 0", which must not reach pytest.
        run = subprocess.run(["bash", "scripts/run"], cwd=ROOT, env=full_env, timeout=120,
                             capture_output=True, text=True, start_new_session=True)
    assert run.returncode != 0
    assert f"port {port} on 127.0.0.1 is in use" in run.stderr
    assert "sender is not started" in run.stderr
    assert "Sender running" not in run.stdout + run.stderr
    assert not os.path.exists(f"{env['DATABASE_PATH']}-sender.lock")
