"""The shipped deployment files: Debian's real nginx with deploy/nginx/infokanal.conf in front of
the Procfile's web process, and the systemd units in deploy/systemd.

nginx runs unprivileged, from a prefix of its own in /tmp, on plain HTTP on loopback: the test
variant is made from the shipped file (TLS lines out, ports in), never kept as a copy.
"""

import contextlib
import io
import os
import pwd
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from tests.certificates import self_signed
from tests.conftest import (ADMIN_TOKEN, OFFICER, OFFICER_PASSWORD, ROOT, csrf_from, free_port,
                            procfile_command, wait_for)
from tests.slow_clients import Attack, assert_service_answers

SITE = ROOT / "deploy" / "nginx" / "infokanal.conf"
UNITS = ROOT / "deploy" / "systemd"
HOST = "infokanal.example.de"  # the shipped file's placeholder
DEBIAN_NGINX = "/usr/sbin/nginx"


def nginx_binary(environ=os.environ):
    found = shutil.which("nginx") or (DEBIAN_NGINX if os.path.exists(DEBIAN_NGINX) else None)
    if found:
        return found
    message = "Debian's nginx is not installed (apt-get install nginx; scripts/test does)"
    if environ.get("CI") or environ.get("INFOKANAL_REQUIRE_NGINX") == "1":
        pytest.fail(message + "; CI or INFOKANAL_REQUIRE_NGINX=1 requires it")
    pytest.skip(message)


def substitute(text, pattern, replacement, expected=1):
    """``re.subn`` that insists the shipped file still has what the test variant changes."""
    text, count = re.subn(pattern, replacement, text, flags=re.M)
    assert count == expected if expected else count > 0, \
        f"{pattern!r}: {count} matches in {SITE.name}"
    return text


def site_for_test(port, web_port, webroot, certificate=None, text=None):
    """The shipped site (or ``text``, a site made from it) on loopback ports, in front of the
    test's web process. Without a certificate: plain HTTP, every ``ssl_`` line out; with one:
    TLS as shipped, the certificate paths pointing at it."""
    text = SITE.read_text(encoding="utf-8") if text is None else text
    text = substitute(text, r"^\s*listen \[::\]:\d+.*;\n", "", expected=2)
    text = substitute(text, r"^(\s*)listen 80;", rf"\g<1>listen 127.0.0.1:{free_port()};")
    text = substitute(text, r"^(\s*)server 127\.0\.0\.1:8000;",
                      rf"\g<1>server 127.0.0.1:{web_port};")
    text = substitute(text, r"root /var/www/letsencrypt;", f"root {webroot};")
    if certificate is None:
        text = substitute(text, r"^(\s*)listen 443 ssl http2;", rf"\g<1>listen 127.0.0.1:{port};")
        text = substitute(text, r"^\s*ssl_\w+ .*;\n", "", expected=0)
    else:
        cert, key = certificate
        text = substitute(text, r"^(\s*)listen 443 ssl http2;",
                          rf"\g<1>listen 127.0.0.1:{port} ssl http2;")
        text = substitute(text, r"/etc/letsencrypt/live/\S+/fullchain\.pem", str(cert))
        text = substitute(text, r"/etc/letsencrypt/live/\S+/privkey\.pem", str(key))
    directives = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if "/etc/" in line or "/var/" in line]
    return text


MAIN = """\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections {worker_connections};
}}
http {{
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/infokanal.conf;
}}
"""


class Nginx:
    """nginx with the shipped site, unprivileged (as nobody when the tests run as root)."""

    def __init__(self, web_port, tls=False, worker_connections=1024):
        self.binary = nginx_binary()
        self.port = free_port()
        self.prefix = Path(tempfile.mkdtemp(prefix="infokanal-nginx-"))
        try:
            (self.prefix / "webroot").mkdir()
            certificate = self_signed(self.prefix, HOST, "fullchain.pem", "privkey.pem") if tls else None
            (self.prefix / "infokanal.conf").write_text(
                site_for_test(self.port, web_port, self.prefix / "webroot", certificate))
            (self.prefix / "nginx.conf").write_text(
                MAIN.format(prefix=self.prefix, worker_connections=worker_connections))
        except BaseException:
            shutil.rmtree(self.prefix, ignore_errors=True)
            raise
        self.user = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            for path in [self.prefix, *self.prefix.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        self.args = [self.binary, "-e", str(self.prefix / "error.log"), "-p", str(self.prefix),
                     "-c", str(self.prefix / "nginx.conf")]
        self.proc = None

    def check(self):
        return subprocess.run(self.args + ["-t"], capture_output=True, text=True, timeout=30,
                              **self.user)

    def start(self):
        self.proc = subprocess.Popen(self.args + ["-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True, **self.user)
        wait_for(self._listening, timeout=15, message=f"nginx on {self.port}")
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"nginx stopped: {self.proc.stderr.read()}\n{self.errors()}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def errors(self):
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc is not None:
            self.proc.stderr.close()
        shutil.rmtree(self.prefix, ignore_errors=True)


@pytest.fixture
def behind_nginx(env, start_web):
    """The Procfile's web process on loopback, as the README's production setup runs it
    (PROXY_COUNT=1), with the shipped nginx in front."""
    nginx_binary()
    web_port = free_port()
    proxy = Nginx(web_port)
    env = dict(env, PORT=str(web_port), PROXY_COUNT="1", PUBLIC_URL=f"http://{HOST}")
    web = start_web(env)
    try:
        yield proxy.start(), web
    finally:
        proxy.stop()


def test_the_slow_client_attack_through_nginx_leaves_the_service_answering(behind_nginx):
    proxy, web = behind_nginx
    with Attack(proxy.port, idle=300, slow_body=20, slow_headers=20, host_header=HOST):
        assert_service_answers(proxy.url, web.public_url, host_header=HOST)
    assert "[emerg]" not in proxy.errors() and "[alert]" not in proxy.errors()


def test_nginx_gives_up_on_a_slow_body_before_the_app_ever_sees_it(behind_nginx):
    proxy, web = behind_nginx
    with Attack(proxy.port, idle=0, slow_body=3, host_header=HOST) as attack:
        wait_for(lambda: attack.closed_by_server("slow_body") == 3, timeout=20, interval=0.25,
                 message="nginx to give up on the slow bodies")
        answers = attack.answers("slow_body")
    # nginx closes without an answer; the app's own 408 would say "request body too slow".
    assert not any(b"too slow" in answer for answer in answers), answers


def test_nginx_refuses_a_body_above_the_apps_limit(behind_nginx):
    proxy, _ = behind_nginx
    response = requests.post(proxy.url + "/api/broadcasts", data=b"x" * (300 * 1024),
                             headers={"Host": HOST, "Authorization": f"Bearer {ADMIN_TOKEN}",
                                      "Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413


def noise_png(size):
    """A PNG of random pixels: it does not compress, so the file is as large as its pixels."""
    from PIL import Image

    out = io.BytesIO()
    pixels = random.Random(5).randbytes(size[0] * size[1] * 3)
    Image.frombytes("RGB", size, pixels).save(out, "PNG")
    return out.getvalue()


def test_nginx_allows_uploads_up_to_the_apps_upload_limit_on_the_upload_paths_only():
    """The size limit of the two upload paths is the app's own (16 MB for a video or PDF and
    the form around it), and that of Meta's webhook and Twilio's Event Streams sink the app's
    for their batches (3 MB, 1 MB)."""
    from bot import uploads
    from bot.web import meta_webhook, twilio_events

    text = SITE.read_text(encoding="utf-8")
    limits = re.findall(r"location = (\S+) \{\s*client_max_body_size (\d+)k;", text)
    assert limits == [("/api/media", str(uploads.UPLOAD_BODY_LIMIT // 1024))] \
        + [("/admin/compose", str(uploads.UPLOAD_BODY_LIMIT // 1024))]
    assert uploads.UPLOAD_BODY_LIMIT % 1024 == 0
    meta = f"{meta_webhook.BODY_LIMIT // 1024}k"
    events = f"{twilio_events.BODY_LIMIT // 1024}k"
    assert re.findall(r"client_max_body_size (\w+);", text) == ["256k", events, meta, "16640k",
                                                                 "16640k"]


def test_a_5_mb_picture_goes_through_nginx_to_the_api_and_the_console(behind_nginx, officer):
    proxy, web = behind_nginx
    picture = noise_png((1280, 1270))
    assert 4_800_000 < len(picture) <= 5 * 1024 * 1024
    headers = {"Host": HOST, "Authorization": f"Bearer {ADMIN_TOKEN}"}
    uploaded = requests.post(proxy.url + "/api/media", headers=headers, timeout=30,
                             files={"file": ("gross.png", picture, "image/png")})
    assert uploaded.status_code == 201, uploaded.text[:300]
    assert uploaded.json()["url"].startswith(f"http://{HOST}/media/")

    console = requests.Session()
    console.headers["Host"] = HOST
    login = console.get(proxy.url + "/admin/login", timeout=10)
    signed_in = console.post(proxy.url + "/admin/login", timeout=10, allow_redirects=False, data={
        "csrf_token": csrf_from(login.text), "name": OFFICER, "password": OFFICER_PASSWORD})
    assert signed_in.status_code == 302
    compose = console.get(proxy.url + "/admin/compose", timeout=10)
    page = console.post(proxy.url + "/admin/compose", timeout=30, data={
        "csrf_token": csrf_from(compose.text), "text": "Mit großem Bild"},
        files={"image": ("gross.png", picture, "image/png")})
    assert page.status_code == 200, page.text[:300]
    assert re.search(r'id="preview-picture" alt="Bild der Meldung" src="/media/[0-9a-f]{32}\.png"',
                     page.text)
    # A picture larger than 5 MB is the app's to refuse (a video or PDF may be 16 MB), with
    # the reason; anything larger than the largest upload is refused by nginx already, and
    # every other path keeps its 256 KB.
    large = requests.post(proxy.url + "/api/media", headers=headers, timeout=30,
                          files={"file": ("gross.png", picture + b"\0" * 700_000)})
    assert large.status_code == 400 and "5 MB" in large.json()["error"], large.text[:300]
    too_large = requests.post(proxy.url + "/api/media", headers=headers, timeout=30,
                              files={"file": ("zu-gross.mp4", b"\0" * (17 * 1024 * 1024))})
    assert too_large.status_code == 413 and "nginx" in too_large.text, too_large.text[:300]
    elsewhere = requests.post(proxy.url + "/admin/login", headers={"Host": HOST}, timeout=10,
                              files={"image": ("gross.png", picture, "image/png")})
    assert elsewhere.status_code == 413 and "nginx" in elsewhere.text


@pytest.mark.parametrize("path", ["/api/media", "/admin/compose"])
def test_an_upload_without_a_credential_is_refused_through_nginx_before_its_body(
        behind_nginx, path):
    # nginx streams the upload paths' bodies to the app, which answers before reading one that
    # cannot be authorized: the client hears so without sending its 5 MB (nor nginx writing
    # them to disk first).
    proxy, _ = behind_nginx
    head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: image/png\r\n"
            f"Content-Length: 5000000\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(head + b"\x89PNG" + b"\0" * 4096)
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] in (b"302", b"401"), status_line


ROUTES = [
    ("GET", "/", 200), ("GET", "/datenschutz", 200), ("GET", "/feed.xml", 200),
    ("GET", "/qr.svg", 200), ("GET", "/healthz", 200), ("GET", "/admin/login", 200),
    ("GET", "/admin", 302), ("GET", "/api/stats", 401), ("OPTIONS", "/api/stats", 401),
    ("GET", "/twilio/messages", 403), ("POST", "/", 403), ("DELETE", "/healthz", 403),
    ("POST", "/twilio/messages", 403),  # unsigned: refused by the app, not by nginx
    ("DELETE", "/meta/webhook", 403), ("PUT", "/meta/webhook", 403),
    ("GET", "/twilio/events", 403), ("POST", "/twilio/events", 403),
]


def test_nginx_routes_what_the_app_serves(behind_nginx):
    proxy, _ = behind_nginx
    for method, path, status in ROUTES:
        response = requests.request(method, proxy.url + path, headers={"Host": HOST},
                                    allow_redirects=False, timeout=10)
        assert response.status_code == status, (method, path)
        assert response.headers.get("Server") == "nginx", path  # no version
        if path.startswith(("/api/", "/admin")):
            assert response.headers["Cache-Control"] == "no-store", path
    api = requests.get(proxy.url + "/api/stats", timeout=10, headers={
        "Host": HOST, "Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert api.status_code == 200 and api.json()["subscribers"] == 0


def test_a_large_signed_batch_of_twilios_event_streams_passes_nginx(behind_nginx):
    """The sink's batches may be larger than any other webhook's body (up to the app's 1 MB):
    nginx passes them to the app, which checks the signature and answers."""
    import json

    from tests.fake_twilio import FakeTwilio

    proxy, _ = behind_nginx
    events = [{"specversion": "1.0", "id": f"EZ{n:032x}", "type": "com.twilio.example.unknown",
               "data": {"padding": "x" * 500}} for n in range(1200)]
    body = json.dumps(events).encode()
    assert 512 * 1024 < len(body) < 1024 * 1024
    url, signature = FakeTwilio().sign_events(f"http://{HOST}/twilio/events", body)
    answer = requests.post(proxy.url + url.removeprefix(f"http://{HOST}"), data=body, headers={
        "Host": HOST, "Content-Type": "application/json", "X-Twilio-Signature": signature},
        timeout=10)
    assert answer.status_code == 200, answer.text[:300]


META_WEBHOOK_REQUESTS = [
    # Meta's subscription handshake (here with a token that is not ours).
    ("GET", {"params": {"hub.mode": "subscribe", "hub.verify_token": "nicht-unserer",
                        "hub.challenge": "1158201444"}}),
    # An event without a signature, and one with a forged signature.
    ("POST", {"json": {"object": "whatsapp_business_account", "entry": []}}),
    ("POST", {"data": b'{"object": "whatsapp_business_account", "entry": []}',
              "headers": {"Content-Type": "application/json",
                          "X-Hub-Signature-256": "sha256=" + "0" * 64}}),
    # A batch of a megabyte, as Meta may post (up to 3 MB): the app's to answer, not nginx's.
    ("POST", {"data": b'{"object": "whatsapp_business_account", "entry": []}'.ljust(1 << 20),
              "headers": {"Content-Type": "application/json",
                          "X-Hub-Signature-256": "sha256=" + "0" * 64}}),
]


@pytest.mark.parametrize("method, request_args", META_WEBHOOK_REQUESTS)
def test_metas_webhook_reaches_the_app_through_nginx(behind_nginx, method, request_args):
    """Whatever the app answers on /meta/webhook, a request through nginx gets the same
    answer: nginx neither refuses the webhook's POST nor answers for the app."""
    proxy, web = behind_nginx
    headers = {"Host": HOST, **request_args.get("headers", {})}
    args = dict(request_args, headers=headers, allow_redirects=False, timeout=10)
    via_nginx = requests.request(method, proxy.url + "/meta/webhook", **args)
    direct = requests.request(method, web.url + "/meta/webhook", **args)
    assert "nginx" not in via_nginx.text, via_nginx.text[:300]
    assert (via_nginx.status_code, via_nginx.text) == (direct.status_code, direct.text)


def test_a_client_cannot_choose_its_address_through_nginx(behind_nginx):
    """With PROXY_COUNT=1 the app believes one X-Forwarded-For value: nginx's. A client that
    sends its own still counts as its real address, and the sign-in lock holds."""
    proxy, _ = behind_nginx
    session = requests.Session()
    page = session.get(proxy.url + "/admin/login", headers={"Host": HOST}, timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    statuses = []
    for attempt in range(6):
        statuses.append(session.post(
            proxy.url + "/admin/login", timeout=10,
            headers={"Host": HOST, "X-Forwarded-For": f"203.0.113.{attempt}"},
            data={"csrf_token": token, "name": f"rate{attempt}", "password": "falsch"},
        ).status_code)
    assert statuses == [401] * 5 + [429]


def test_the_shipped_tls_configuration_is_valid_nginx():
    proxy = Nginx(free_port(), tls=True)
    try:
        result = proxy.check()
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_a_missing_nginx_fails_where_it_is_required_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    for environ in ({"CI": "true"}, {"INFOKANAL_REQUIRE_NGINX": "1"}):
        with pytest.raises(pytest.fail.Exception):
            nginx_binary(environ)
    with pytest.raises(pytest.skip.Exception):
        nginx_binary({})


# --- systemd ---------------------------------------------------------------------------------

UNIT_FILES = {"web": UNITS / "infokanal-web.service", "worker": UNITS / "infokanal-worker.service",
              "replica": UNITS / "infokanal-replica.service"}
CHECKOUT = "/opt/infokanal"


def parse_unit(path):
    """A unit file as {section: {key: [values]}}; every line must be a section, a setting,
    a comment or blank."""
    sections, current = {}, None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if re.fullmatch(r"\[[A-Za-z]+\]", line):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep and re.fullmatch(r"[A-Za-z]+", key), \
            f"{path.name}:{number}: {line!r}"
        current.setdefault(key, []).append(value)
    return sections


@pytest.mark.parametrize("name", UNIT_FILES)
def test_the_units_run_the_procfile_commands_hardened(name):
    unit = parse_unit(UNIT_FILES[name])
    service = unit["Service"]
    assert set(unit) == {"Unit", "Service", "Install"}
    # The Procfile's command, from the checkout's venv, bound to loopback behind nginx.
    command = procfile_command(name).replace('"${HOST:-0.0.0.0}:${PORT:-8000}"', "127.0.0.1:8000")
    assert service["ExecStart"] == [f"{CHECKOUT}/.venv/bin/{command}"]
    assert service["WorkingDirectory"] == [CHECKOUT]
    assert "EnvironmentFile" not in service  # the app reads .env itself, also on reload
    assert service["User"] == ["infokanal"] and service["Group"] == ["infokanal"]
    assert service["Restart"] == ["on-failure"]
    assert service["ReadWritePaths"] == [f"{CHECKOUT}/instance"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "PrivateDevices": "yes", "UMask": "0077",
                       "CapabilityBoundingSet": ""}.items():
        assert service[key] == [value], key


def test_nginx_and_the_web_unit_agree_on_the_port():
    bind = re.search(r"--bind (\S+)", parse_unit(UNIT_FILES["web"])["Service"]["ExecStart"][0])
    assert f"server {bind.group(1)};" in SITE.read_text(encoding="utf-8")


def test_the_web_unit_reloads_with_hup():
    assert parse_unit(UNIT_FILES["web"])["Service"]["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


def verified_by_systemd(tmp_path, units, rated):
    """``systemd-analyze verify`` accepts ``units`` without a word, and each of the services in
    ``rated`` has an exposure of at most 2.0. The units are pointed at this checkout, so that
    systemd finds the commands it would start."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the units' parse check still ran")
    venv_bin = os.path.dirname(sys.executable)
    paths = {}
    for path in units:
        text = path.read_text(encoding="utf-8").replace(f"{CHECKOUT}/.venv/bin", venv_bin)
        paths[path] = tmp_path / path.name
        paths[path].write_text(text.replace(CHECKOUT, str(ROOT)), encoding="utf-8")
    verify = subprocess.run([analyze, "verify", *map(str, paths.values())], capture_output=True,
                            text=True, timeout=60)
    # systemd only warns about an unknown or misspelt setting: a warning fails here too.
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    for path in rated:
        security = subprocess.run([analyze, "security", "--offline=yes", str(paths[path])],
                                  capture_output=True, text=True, timeout=60)
        exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
        assert exposure and float(exposure.group(1)) <= 2.0, security.stdout[-2000:]


FOLLOW_UNIT = UNITS / "infokanal-follow.service"


def test_the_standby_unit_follows_the_replica_hardened_as_the_replica_unit():
    follow, replica = parse_unit(FOLLOW_UNIT), parse_unit(UNIT_FILES["replica"])
    assert follow["Service"]["ExecStart"] == [f"{CHECKOUT}/.venv/bin/flask --app wsgi replica "
                                              "follow"]
    # Everything else as the primary's replica unit: account, folder, hardening, stopping.
    del follow["Service"]["ExecStart"], replica["Service"]["ExecStart"]
    assert follow["Service"] == replica["Service"] and follow["Install"] == replica["Install"]


def test_systemd_accepts_the_units(tmp_path):
    units = [*UNIT_FILES.values(), FOLLOW_UNIT]
    verified_by_systemd(tmp_path, units, units)


# --- the backup timer ----------------------------------------------------------------------------

BACKUP_SERVICE = UNITS / "infokanal-backup.service"
BACKUP_TIMER = UNITS / "infokanal-backup.timer"
BACKUP_FOLDER = "/var/backups/infokanal"


def test_the_backup_unit_runs_the_backup_command_into_its_folder_hardened():
    unit = parse_unit(BACKUP_SERVICE)
    service = unit["Service"]
    assert set(unit) == {"Unit", "Service"}  # started by the timer, never enabled by itself
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == [f"{CHECKOUT}/.venv/bin/flask --app wsgi backup {BACKUP_FOLDER}"]
    assert service["WorkingDirectory"] == [CHECKOUT] and "EnvironmentFile" not in service
    assert service["User"] == ["infokanal"] and service["Group"] == ["infokanal"]
    assert service["ReadWritePaths"] == [f"{CHECKOUT}/instance {BACKUP_FOLDER}"]
    assert unit["Unit"]["AssertPathIsDirectory"] == [BACKUP_FOLDER]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "PrivateDevices": "yes", "PrivateNetwork": "yes",
                       "UMask": "0077", "CapabilityBoundingSet": ""}.items():
        assert service[key] == [value], key


def test_the_backup_timer_starts_the_backup_daily_and_catches_up():
    unit = parse_unit(BACKUP_TIMER)
    assert unit["Timer"]["Unit"] == [BACKUP_SERVICE.name]
    assert unit["Timer"]["OnCalendar"] == ["*-*-* 03:15:00"]
    assert unit["Timer"]["Persistent"] == ["true"]
    assert unit["Install"]["WantedBy"] == ["timers.target"]


def test_systemd_accepts_the_backup_units(tmp_path):
    verified_by_systemd(tmp_path, (BACKUP_SERVICE, BACKUP_TIMER), (BACKUP_SERVICE,))


def test_the_backup_units_command_writes_a_copy_and_removes_expired_ones(env, tmp_path):
    """The unit's command line as systemd runs it (from the checkout, with the service's
    environment), into a folder that holds an expired copy and a file of someone else's."""
    import shlex
    from datetime import datetime, timedelta, timezone

    from bot.store.backup import copy_name, taken_at

    folder = tmp_path / "backups"
    folder.mkdir()
    expired = folder / copy_name(datetime.now(timezone.utc) - timedelta(days=15))
    expired.write_bytes(b"expired")
    foreign = folder / "infokanal-2020-01-01.db"
    foreign.write_bytes(b"named by hand")
    [command] = parse_unit(BACKUP_SERVICE)["Service"]["ExecStart"]
    argv = shlex.split(command.replace(f"{CHECKOUT}/.venv/bin/", "").replace(BACKUP_FOLDER,
                                                                             str(folder)))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    environ.update(env, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    run = subprocess.run(argv, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Removed 1 older copies" in run.stdout
    assert not expired.exists() and foreign.read_bytes() == b"named by hand"
    [copy] = [path for path in folder.iterdir() if taken_at(path.name)]
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def cron_command(line):
    """What cron runs of a crontab line: the sixth field on, up to the first unescaped ``%``
    (the rest becomes standard input), with ``\\%`` turned into ``%``."""
    command = line.split(None, 5)[5]
    head = re.split(r"(?<!\\)%", command, maxsplit=1)[0]
    return head.replace("\\%", "%")


def test_cron_command_follows_crons_percent_rules():
    assert cron_command("0 3 * * * echo a-$(date +\\%F) %rest") == "echo a-$(date +%F) "
    assert cron_command("0 3 * * * echo $(date +%F)") == "echo $(date +"


def test_the_readmes_crontab_line_backs_up_as_cron_runs_it(env, tmp_path):
    from tests import documentation

    backup = documentation.section(documentation.page(documentation.BACKUPS), "## Backup",
                                   "## Restore")
    [line] = re.findall(r"^\d+ \d+ \* \* \* .+$", backup, flags=re.M)
    folder = tmp_path / "backups"
    folder.mkdir()
    command = cron_command(line).replace(CHECKOUT, str(ROOT)).replace(BACKUP_FOLDER, str(folder))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    environ.update(env)
    # cron runs the line with sh, elsewhere than the checkout; the settings come from the test
    # (in production from .env, which the command reads itself).
    run = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=environ, capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert "Backup written to" in run.stdout
    assert len(list(folder.glob("infokanal-*Z.db"))) == 1
