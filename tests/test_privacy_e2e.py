"""The privacy promises, checked on the running service: gunicorn (Procfile web), the sender
(Procfile worker) against the fake Twilio API, and the operator commands as subprocesses."""

import concurrent.futures
import contextlib
import glob
import itertools
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import requests
from cryptography.fernet import Fernet

from bot.vault import new_key
from tests.conftest import ADMIN_TOKEN, ROOT, Citizen, reply_text, wait_for


def cli_env(env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    full_env.update({k: str(v) for k, v in env.items()})
    full_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full_env["PATH"]
    return full_env


def flask_cli(env, *args, timeout=60):
    """``flask --app wsgi …`` as an operator runs it, with the service's environment."""
    return subprocess.run(["flask", "--app", "wsgi", *args], cwd=ROOT, env=cli_env(env),
                          capture_output=True, text=True, timeout=timeout)


def spellings(e164):
    """+4915112345678 → every way it could be written down."""
    national = "0" + e164[3:]
    return [e164, e164[1:], national, f"{national[:4]} {national[4:]}",
            f"{e164[:3]} {e164[3:6]} {e164[6:]}"]


def subscribe_all(web, numbers, threads=8):
    def start(number):
        return web.citizen(number).send("Start")

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        replies = list(pool.map(start, numbers))
    assert all(r.status_code == 200 and "Willkommen" in reply_text(r.text) for r in replies)


def broadcast(web, text):
    response = web.api("POST", "/api/broadcasts", json={"text": text})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def broadcast_done(web, broadcast_id):
    return web.api("GET", f"/api/broadcasts/{broadcast_id}").json()["status"] == "done"


def recipients(twilio_api, text):
    return {m["To"].removeprefix("whatsapp:") for m in twilio_api.messages if m["Body"] == text}


def fresh_numbers(count, prefix):
    return [f"+49151{prefix:02d}{i:06d}" for i in range(count)]


# --- at rest ----------------------------------------------------------------------------------

def test_no_number_in_the_database_files_or_logs_in_any_spelling(env, start_web, start_worker,
                                                                  twilio_api):
    numbers = fresh_numbers(12, 1)
    web = start_web(env)
    subscribe_all(web, numbers)
    web.citizen(numbers[0]).send("Wo ist das Bürgerbüro?")
    web.citizen(numbers[1]).send("Stop")
    worker = start_worker(env)
    broadcast_id = broadcast(web, "Hochwasserwarnung für den Landkreis")
    wait_for(lambda: broadcast_done(web, broadcast_id), message="broadcast done")
    assert recipients(twilio_api, "Hochwasserwarnung für den Landkreis") == (
        set(numbers) - {numbers[1]})

    wal = env["DATABASE_PATH"] + "-wal"

    def wal_size():
        return os.path.getsize(wal) if os.path.exists(wal) else 0

    def scan():
        for name in glob.glob(env["DATABASE_PATH"] + "*"):
            data = open(name, "rb").read()
            for number in numbers:
                for spelling in spellings(number):
                    assert spelling.encode() not in data, f"{spelling} in {name}"
        for process in (web, worker):
            log = process.log_path.read_text(errors="replace")
            for number in numbers:
                for spelling in spellings(number):
                    assert spelling not in log, f"{spelling} in the {process.name} log"

    assert wal_size() > 0  # the newest writes are still in the WAL
    scan()
    worker.stop()
    web.stop()
    # gunicorn's quick shutdown may end a worker before it closes its connection, so the WAL
    # can stay behind; a checkpoint folds it into the database file, which is scanned alone.
    with contextlib.closing(sqlite3.connect(env["DATABASE_PATH"])) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert wal_size() == 0
    scan()


# --- the citizen's rights -----------------------------------------------------------------------

def test_export_and_erase_end_to_end(env, start_web, start_worker, twilio_api):
    erika, other = fresh_numbers(2, 2)
    web = start_web(env)
    subscribe_all(web, [erika, other])
    worker = start_worker(env)
    first = broadcast(web, "Erste Meldung")
    wait_for(lambda: broadcast_done(web, first), message="first broadcast done")

    exported = flask_cli(env, "privacy", "export", erika)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["subscribed"] is True
    assert [d["broadcast_id"] for d in data["deliveries"]] == [first]

    erased = flask_cli(env, "privacy", "erase", "0" + erika[3:6], erika[6:])
    assert erased.returncode == 0, erased.stderr
    assert "Kept: 2 consent records" in erased.stdout
    assert "Art. 7(1)" in erased.stdout

    second = broadcast(web, "Zweite Meldung")
    wait_for(lambda: broadcast_done(web, second), message="second broadcast done")
    assert recipients(twilio_api, "Zweite Meldung") == {other}

    after = json.loads(flask_cli(env, "privacy", "export", erika).stdout)
    assert after["subscribed"] is False and after["subscribed_since"] is None
    assert after["deliveries"] == [] and after["last_auto_notice_at"] is None
    assert [e["action"] for e in after["consent_events"]] == ["subscribe", "unsubscribe"]
    assert after["consent_events"][1]["keyword"] == "erasure"
    worker.stop()


def test_privacy_command_with_a_bad_number_fails_and_changes_nothing(env, start_web):
    web = start_web(env)
    subscribe_all(web, fresh_numbers(1, 3))
    result = flask_cli(env, "privacy", "erase", "keine-nummer")
    assert result.returncode != 0 and "phone number" in result.stderr
    assert web.api("GET", "/api/stats").json()["subscribers"] == 1


# --- keys ---------------------------------------------------------------------------------------

def test_keys_new_works_exactly_when_the_key_is_missing(env):
    result = flask_cli(dict(env, DATA_KEY=""), "keys", "new")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().removeprefix("DATA_KEY=")
    Fernet(key.encode())
    assert key not in result.stderr
    refused = flask_cli(dict(env, DATA_KEY=""), "worker")
    assert refused.returncode != 0 and "keys new" in refused.stderr


def test_rotation_under_load_keeps_webhooks_working_and_everyone_reachable(
        env, citizen, start_web, start_worker, twilio_api):
    old, new = env["DATA_KEY"], new_key()
    before = fresh_numbers(100, 4)
    for number in before:  # in-process, under the old key alone
        assert "Willkommen" in reply_text(citizen(number).send("Start").text)
    # The operator puts the new key in front and reloads the web workers.
    both = dict(env, DATA_KEY=f"{new},{old}")
    web = start_web(both)

    def wrapped_lookup_key():
        with sqlite3.connect(env["DATABASE_PATH"]) as conn:
            return conn.execute("SELECT value FROM app_keys WHERE name = 'lookup'").fetchone()[0]

    original = wrapped_lookup_key()
    rotation = subprocess.Popen(["flask", "--app", "wsgi", "keys", "rotate", "--batch-size", "1"],
                                cwd=ROOT, env=cli_env(both), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    # The lookup key is re-wrapped first: from then on the rows are being re-encrypted.
    wait_for(lambda: wrapped_lookup_key() != original or rotation.poll() is not None,
             message="rotation started")
    newcomers, leavers = iter(fresh_numbers(200, 5)), iter(before[::2])
    joined, left, during = [], [], 0

    def write_in(number, body, expected):
        # Each on its own connection, several at once, as Twilio's webhooks come.
        citizen = Citizen(lambda path, params, headers: requests.post(
            web.url + path, data=params, headers=headers, timeout=30),
            public_url=web.public_url, number=number)
        reply = citizen.send(body)
        assert reply.status_code == 200 and expected in reply_text(reply.text), reply.text

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        while rotation.poll() is None:
            batch = [(n, "Start", "Willkommen") for n in itertools.islice(newcomers, 6)]
            batch += [(n, "Stop", "abgemeldet") for n in itertools.islice(leavers, 2)]
            if not batch:
                break
            list(pool.map(lambda job: write_in(*job), batch))
            joined += [n for n, body, _ in batch if body == "Start"]
            left += [n for n, body, _ in batch if body == "Stop"]
            during += len(batch) if rotation.poll() is None else 0
    out, err = rotation.communicate(timeout=60)
    assert rotation.returncode == 0, err
    assert "first key alone" in out
    assert during >= 5, f"only {during} webhooks ran while the rotation did"

    # The old key goes; web and worker start with the new key alone and reach everyone.
    web.stop(signal.SIGINT)
    only_new = dict(env, DATA_KEY=new)
    web = start_web(only_new)
    expected = (set(before) - set(left)) | set(joined)
    assert web.api("GET", "/api/stats").json()["subscribers"] == len(expected)
    start_worker(only_new)
    broadcast_id = broadcast(web, "Nach dem Schlüsseltausch")
    wait_for(lambda: broadcast_done(web, broadcast_id), message="broadcast done")
    assert recipients(twilio_api, "Nach dem Schlüsseltausch") == expected


# --- backup and restore -------------------------------------------------------------------------

def test_a_backup_taken_mid_broadcast_restores_into_a_service_that_finishes_it(
        env, start_web, start_worker, twilio_api, tmp_path):
    numbers = fresh_numbers(120, 6)
    slow = dict(env, SEND_RATE_LIMIT="40")
    web = start_web(slow)
    subscribe_all(web, numbers)
    twilio_api.latency = 0.05
    twilio_api.hold(10)  # the broadcast stays half done however long the backup command takes
    worker = start_worker(slow)
    text = "Stromausfall im Ortsteil Nord"
    broadcast_id = broadcast(web, text)
    wait_for(lambda: len(twilio_api.messages) >= 10, message="broadcast under way")

    backup_path = tmp_path / "backups" / "infokanal-backup.db"
    backup_path.parent.mkdir()
    taken = flask_cli(slow, "backup", str(backup_path))
    assert taken.returncode == 0, taken.stderr
    with sqlite3.connect(backup_path) as conn:
        pending = conn.execute("SELECT count(*) FROM deliveries WHERE state IN "
                               "('queued', 'sending')").fetchone()[0]
    assert pending > 0, "the backup should be taken in the middle of the broadcast"

    # Everything dies; the database is lost. Restore as the README says, on a fresh path.
    worker.stop(signal.SIGKILL)
    web.stop(signal.SIGKILL)
    twilio_api.release()
    restored = tmp_path / "restored" / "infokanal.db"
    restored.parent.mkdir()
    shutil.copyfile(backup_path, restored)
    for stale in glob.glob(str(restored) + "-*"):
        os.remove(stale)
    again = dict(slow, DATABASE_PATH=str(restored))
    web = start_web(again)
    start_worker(again)
    wait_for(lambda: broadcast_done(web, broadcast_id), timeout=30, message="restored broadcast")
    assert recipients(twilio_api, text) == set(numbers)
    assert web.api("GET", "/api/stats").json()["subscribers"] == len(numbers)


# --- logs ---------------------------------------------------------------------------------------

def test_access_log_masks_numbers_and_never_shows_tokens(env, start_web):
    web = start_web(dict(env, ACCESS_LOG="-"))
    number = "+4915170000001"
    web.session.get(web.url + "/healthz", params={"to": number, "n": "0151 70000001",
                                                  "token": "very-secret-value"})
    web.api("GET", "/api/stats")
    web.citizen(number).send("Start")
    wait_for(lambda: "/api/stats" in web.output(), message="access log line")
    output = web.output()
    assert "GET /healthz?to=+49151•••0001" in output
    for spelling in spellings(number):
        assert spelling not in output
    assert "very-secret-value" not in output and ADMIN_TOKEN not in output
    assert output.count("/api/stats") == 1, "one handler per line, no unmasked duplicate"


def test_no_access_log_unless_asked(env, start_web):
    web = start_web(env)
    web.api("GET", "/api/stats")
    time.sleep(0.2)
    assert "/api/stats" not in web.output()
