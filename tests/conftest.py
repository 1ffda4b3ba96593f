"""Fixtures in layers: fake Twilio → config → app → client/citizen; and Procfile processes."""

import contextlib
import itertools
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.vault import new_key
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
COUNTY_NUMBER = "whatsapp:+4930901820"
PUBLIC_URL = "https://infokanal.example.de"
ADMIN_TOKEN = "admin-token-for-tests-long-enough-for-production"
# The county the Procfile's processes name (see ``env``).
PROCESS_AUTHORITY = "Landkreis Testhausen"
_numbers = itertools.count(1)
_sids = itertools.count(1)


def new_number():
    """A fresh, possible German mobile number for each citizen in a test run."""
    return f"+49151{next(_numbers):08d}"


def new_sid():
    return f"SM{next(_sids):032x}"


@pytest.fixture(scope="session")
def fake_twilio():
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def twilio_api(fake_twilio):
    fake_twilio.reset()
    fake_twilio.latency = 0.0
    return fake_twilio


def counts_disagreeing(path):
    """Broadcast counts the database keeps (delivery_counts) that a recount of the deliveries
    does not confirm: [(broadcast, bucket, code, kind, kept, recounted)]. Empty is right."""
    if not Path(path).exists():
        return []
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        if "delivery_counts" not in tables:
            return []
        kept = {row[:4]: row[4] for row in conn.execute(
            "SELECT broadcast_id, bucket, code, kind, n FROM delivery_counts WHERE n != 0")}
        recounted = {row[:4]: row[4] for row in conn.execute(
            "SELECT broadcast_id, bucket, bucket_code, bucket_kind, count(*) FROM deliveries "
            "GROUP BY 1, 2, 3, 4")}
    return [key + (kept.get(key), recounted.get(key)) for key in sorted(set(kept) | set(recounted))
            if kept.get(key) != recounted.get(key)]


def audit_trail_broken(path):
    """Why the database's audit trail does not verify, or None. A database whose append-only
    triggers were dropped was tampered with on purpose (to show that verification catches it):
    None for it too."""
    if not Path(path).exists():
        return None
    from bot.store import audit

    with sqlite3.connect(path) as conn:
        triggers = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_log_%'")}
        if triggers != {"audit_log_no_update", "audit_log_no_delete"}:
            return None
        result = audit.verify(conn)
    return None if result.ok else f"entry {result.bad_id} {result.reason}"


@pytest.fixture
def config(tmp_path, twilio_api):
    settings = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": COUNTY_NUMBER,
        "TWILIO_API_URL": twilio_api.url,
        "PUBLIC_URL": PUBLIC_URL,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "DATA_KEY": new_key(),
        "DATABASE_PATH": str(tmp_path / "infokanal.db"),
        "AUTHORITY_NAME": "Landkreis Musterstadt",
        "CONTACT_INFO": "Bürgertelefon 0800 123 456",
        "SEND_RATE_LIMIT": 500,
        "SENDER_POLL_SECONDS": 0.05,
    }
    yield settings
    # Whatever a test did, the counts the database keeps must be a recount of the deliveries,
    # and the audit trail of what it did must verify.
    assert counts_disagreeing(settings["DATABASE_PATH"]) == []
    assert audit_trail_broken(settings["DATABASE_PATH"]) is None


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


class Citizen:
    """Someone writing to the county's number; posts webhooks signed the way Twilio signs."""

    def __init__(self, post, public_url=PUBLIC_URL, number=None, auth_token=AUTH_TOKEN):
        self._post = post
        self.public_url = public_url
        self.number = number or new_number()
        self.auth_token = auth_token

    def params(self, body, **extra):
        params = {
            "MessageSid": new_sid(), "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{self.number}", "To": COUNTY_NUMBER, "Body": body,
            "NumMedia": "0", "ProfileName": "Erika", "WaId": self.number.lstrip("+"),
            "ApiVersion": "2010-04-01",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def send(self, body, **extra):
        return self.post_signed("/twilio/messages", self.params(body, **extra))

    def post_signed(self, path, params, signature=None):
        if signature is None:
            signature = RequestValidator(self.auth_token).compute_signature(
                self.public_url + path, params)
        return self._post(path, params, {"X-Twilio-Signature": signature})


def reply_text(xml):
    """The text of the TwiML <Message>, or None for an empty <Response/>."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    assert root.tag == "Response"
    message = root.find("Message")
    return None if message is None else (message.text or "")


def citizens_of(client):
    """A factory of citizens who write to the app behind a Flask test client."""

    def post(path, params, headers):
        response = client.post(path, data=params, headers=headers)
        response.text = response.get_data(as_text=True)
        return response

    return lambda number=None: Citizen(post, number=number)


@pytest.fixture
def citizen(client):
    return citizens_of(client)


def database(app):
    """The app's database as the storage code opens it."""
    from bot.store.db import connect

    return connect(app.config["DATABASE_PATH"])


def rows(app, sql, *params):
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(app, sql, *params):
    return rows(app, sql, *params)[0][0]


def broadcast(app, text="Probealarm"):
    """A broadcast queued straight through storage, as the API would."""
    from bot.store import broadcasts
    from bot.store.db import write

    with write(database(app)) as conn:
        return broadcasts.create(conn, text)[0]


def submit_broadcast(data, created_by="test"):
    """A broadcast queued as the API queues it; inside the app's context."""
    from flask import current_app

    from bot.domain import announcements
    from bot.web.database import get_db

    return announcements.submit(get_db(), data, current_app.config, created_by=created_by)


_PORTS_GIVEN = set()


def free_port():
    """A loopback port free now and not handed out before in this test process: the kernel may
    give a just-closed port again, and two servers of one test on one port would be one server
    (nginx then answers both names' requests from whichever block comes first)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def procfile_command(name):
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise KeyError(name)


class Process:
    """A Procfile command running as its own process group."""

    def __init__(self, name, env, cwd=ROOT, open_files=None):
        """``open_files``: the process's soft limit of open files (set in the child alone, so
        that this test process, which may hold many files by then, keeps its own)."""
        self.name = name
        self.log_path = Path(env["DATABASE_PATH"]).parent / f"{name}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        full_env.update({k: str(v) for k, v in env.items()})
        if full_env.get("TWILIO_ACCOUNT_SID") and full_env.get("TWILIO_AUTH_TOKEN"):
            # Production does not start without the county's name and contact.
            full_env.setdefault("AUTHORITY_NAME", PROCESS_AUTHORITY)
            full_env.setdefault("CONTACT_INFO", "Bürgertelefon 01234 5678")
        full_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full_env["PATH"]
        limit = None
        if open_files is not None:
            def limit():
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, hard))
        self.proc = subprocess.Popen(["bash", "-c", "exec " + procfile_command(name)],
                                     cwd=cwd, env=full_env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=limit)

    def output(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def send_signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, sig=signal.SIGTERM, timeout=15):
        self.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.log.close()


class WebServer(Process):
    def __init__(self, env, open_files=None, ready_status=200):
        # A test that needs Twilio's callbacks to reach this server picks the port itself and
        # sets PUBLIC_URL to match. ``ready_status``: what /healthz answers once it serves (503
        # on a machine a failover replaced).
        self.port = int(env.get("PORT") or free_port())
        self.public_url = env.get("PUBLIC_URL", PUBLIC_URL)
        env = dict(env, PORT=self.port, HOST="127.0.0.1")
        env.setdefault("WEB_CONCURRENCY", "2")
        super().__init__("web", env, open_files=open_files)
        self.url = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.session.get(self.url + "/healthz",
                                    timeout=1).status_code == ready_status:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                output = self.output()
                super().stop(signal.SIGKILL)
                raise RuntimeError(f"web did not start:\n{output}")
            time.sleep(0.1)

    def stop(self, sig=signal.SIGQUIT, timeout=3):
        # SIGQUIT is gunicorn's quick shutdown; a graceful SIGTERM costs seconds per test.
        self.session.close()
        super().stop(sig, timeout)

    def post(self, path, params, headers):
        return self.session.post(self.url + path, data=params, headers=headers, timeout=10)

    def citizen(self, number=None):
        return Citizen(self.post, public_url=self.public_url, number=number)

    def api(self, method, path, **kwargs):
        headers = kwargs.pop("headers", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        return self.session.request(method, self.url + path, headers=headers, timeout=30,
                                    **kwargs)


@pytest.fixture
def env(config):
    """The configuration as environment variables, for Procfile processes.

    Through the environment the service refuses .env.example's example county (Landkreis
    Musterstadt) in production, as it would an operator's copy: the processes name another.
    """
    return {k: str(v) for k, v in dict(config, AUTHORITY_NAME=PROCESS_AUTHORITY).items()}


@pytest.fixture
def start_web():
    started = []

    def start(env):
        server = WebServer(env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def start_worker():
    started = []

    def start(env):
        worker = Process("worker", env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def refused_start(name, env):
    """Start the Procfile command ``name`` with ``env``, which it must refuse: once it has
    exited (within 30 s), its exit code and what it printed."""
    process = Process(name, env)
    try:
        wait_for(lambda: process.proc.poll() is not None, timeout=30,
                 message=f"{name} to stop")
        output = process.output()
    finally:
        process.stop()
    return process.proc.returncode, output


@contextlib.contextmanager
def time_bound(seconds):
    """Raise TimeoutError in whatever runs inside once ``seconds`` have passed: a test that
    starts processes ends in bounded time even if something it waits on hangs."""
    def overtime(signum, frame):
        raise TimeoutError(f"the test ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, overtime)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def wait_for(predicate, timeout=20, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


OFFICER = "presse"
OFFICER_PASSWORD = "ein-langes-Passwort-1"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def officer(runner):
    """A press officer account, made the way the operator makes it: with the CLI."""
    result = runner.invoke(args=["users", "add", OFFICER],
                           input=f"{OFFICER_PASSWORD}\n{OFFICER_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    return OFFICER


def csrf_from(html):
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Console:
    """A browser-less press officer: the Flask test client plus the form's CSRF token."""

    def __init__(self, client):
        self.client = client

    def token(self, path="/admin/login"):
        return csrf_from(self.client.get(path).get_data(as_text=True))

    def sign_in(self, name=OFFICER, password=OFFICER_PASSWORD, **kwargs):
        return self.client.post("/admin/login", data={
            "csrf_token": self.token(), "name": name, "password": password}, **kwargs)

    def post(self, path, data=None, token_page="/admin/compose"):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(token_page))
        return self.client.post(path, data=data)


@pytest.fixture
def console(client, officer):
    signed = Console(client)
    assert signed.sign_in().status_code == 302
    return signed


def signed_in_demo_console(config, **settings):
    """A console of the demo (no Twilio credentials, so the simulator is there) with an
    officer signed in; ``settings`` change the configuration."""
    demo = {k: v for k, v in config.items() if not k.startswith("TWILIO_")}
    app = create_app(dict(demo, **settings))
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                 input=f"{OFFICER_PASSWORD}\n")
    console = Console(app.test_client())
    assert console.sign_in().status_code == 302
    return console
