"""Many counties on one server: the systemd templates (deploy/systemd/infokanal-*@.service) and
the nginx site per host name (deploy/nginx/tenant-site).

Two counties run side by side from the templates' own commands: each unit's ExecStart,
Environment=, EnvironmentFile= and WorkingDirectory= are read from the file and run as systemd
would (a clean environment, the county's name for ``%i``), with the paths under a temporary
folder, each county with its own env file, port, database, key, token and fake Twilio account
and number. Neither county's token, console session or subscribers are any use to the other,
and both send at once.
"""

import concurrent.futures
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from twilio.request_validator import RequestValidator

from bot.vault import new_key
from tests.conftest import ROOT, csrf_from, free_port, procfile_command, time_bound, wait_for
from tests.fake_twilio import FakeTwilio
from tests.test_deploy import (CHECKOUT, MAIN, UNIT_FILES, UNITS, nginx_binary, parse_unit,
                               site_for_test)

TEMPLATES = {name: UNITS / f"infokanal-{name}@.service"
             for name in ("web", "worker", "replica", "follow")}
STATE = "/var/lib/infokanal"
PASSWORD = "ein-langes-Passwort-1"
TEST_SECONDS = 120


def unit_command(path, county, root):
    """(argv, working directory, environment) of a template's ExecStart for ``county``, as
    systemd runs it: ``%i`` the county, the settings read from its EnvironmentFile=, ``${NAME}``
    from the unit's environment; the checkout, /etc/infokanal and the state folder moved to
    this machine's (``root``)."""
    service = parse_unit(path)["Service"]

    def here(text):
        text = text.replace("%i", county).replace(f"{CHECKOUT}/.venv/bin",
                                                  os.path.dirname(sys.executable))
        return text.replace(CHECKOUT, str(ROOT)).replace(STATE, str(root / "lib")).replace(
            "/etc/infokanal", str(root / "etc"))

    environment = {"PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin",
                   "LANG": "C.UTF-8"}
    for assignment in service.get("Environment", []):
        name, _, value = here(assignment).partition("=")
        environment[name] = value
    [env_file] = service["EnvironmentFile"]
    for line in Path(here(env_file)).read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition("=")
        environment[name] = value  # EnvironmentFile= wins over Environment=
    [command] = service["ExecStart"]
    command = re.sub(r"\$\{(\w+)\}", lambda m: environment[m.group(1)], here(command))
    [directory] = service["WorkingDirectory"]
    return shlex.split(command), here(directory), environment


def test_the_templates_run_the_procfile_commands_for_one_county_each():
    single = {name: parse_unit(path)["Service"] for name, path in UNIT_FILES.items()}
    for name, path in TEMPLATES.items():
        service = parse_unit(path)["Service"]
        command = service["ExecStart"][0].removeprefix(f"{CHECKOUT}/.venv/bin/")
        if name == "web":
            # The Procfile's gunicorn, with the checkout's settings file (the working directory
            # is the county's) and the county's own port on loopback.
            expected = procfile_command("web").replace(
                '--bind "${HOST:-0.0.0.0}:${PORT:-8000}"',
                f"--config {CHECKOUT}/gunicorn.conf.py --bind 127.0.0.1:${{PORT}}")
        elif name == "replica":
            expected = "flask --app wsgi replica run"  # the Procfile's "replica:" line
        elif name == "follow":
            expected = "flask --app wsgi replica follow"  # the standby's, instead of the three
        else:
            expected = procfile_command(name)
        assert command == expected
        assert service["EnvironmentFile"] == ["/etc/infokanal/%i.env"]
        assert service["WorkingDirectory"] == [f"{STATE}/%i"]
        assert service["StateDirectory"] == ["infokanal/%i"]
        assert f"INSTANCE_PATH={STATE}/%i" in service["Environment"]
        assert service["User"] == ["infokanal-%i"] and service["Group"] == ["infokanal-%i"]
        # As hardened as the single county's units, writing nowhere but its own folder.
        reference = single.get(name, single["replica" if name == "follow" else "worker"])
        for key, values in reference.items():
            if key not in ("ExecStart", "WorkingDirectory", "User", "Group", "ReadWritePaths"):
                assert service.get(key) == values, (path.name, key)
        assert "ReadWritePaths" not in service


def test_systemd_accepts_the_templates(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the templates' parse check still ran")
    venv_bin = os.path.dirname(sys.executable)
    for path in TEMPLATES.values():
        text = path.read_text(encoding="utf-8").replace(f"{CHECKOUT}/.venv/bin", venv_bin)
        (tmp_path / path.name).write_text(text.replace(CHECKOUT, str(ROOT)), encoding="utf-8")
    instances = [path.name.replace("@", "@osterholz") for path in TEMPLATES.values()]
    verify = subprocess.run([analyze, "verify", *instances], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    for instance in instances:
        security = subprocess.run([analyze, "security", "--offline=yes", instance],
                                  capture_output=True, text=True, timeout=60, cwd=tmp_path)
        exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
        assert exposure and float(exposure.group(1)) <= 2.0, security.stdout[-2000:]


def tenant_site(county, host, port):
    return subprocess.run([str(ROOT / "deploy" / "nginx" / "tenant-site"), county, host,
                           str(port)], capture_output=True, text=True, check=True,
                          timeout=10).stdout


def test_the_sites_of_two_counties_load_into_one_nginx(tmp_path):
    binary = nginx_binary()
    site = tenant_site("rotenburg-wuemme", "info.lk-row.example", 8002)
    assert "server 127.0.0.1:8002;" in site and "upstream infokanal_rotenburg_wuemme_web" in site
    assert "infokanal.example.de" not in site and "infokanal_web;" not in site
    includes = []
    for county, host in (("osterholz", "info.lk-ohz.example"), ("rotenburg", "info.lk-row.example")):
        (tmp_path / "webroot").mkdir(exist_ok=True)
        # The shipped site's port, so that the tests' transformation applies as to it.
        text = site_for_test(free_port(), free_port(), tmp_path / "webroot",
                             text=tenant_site(county, host, 8000))
        (tmp_path / f"{county}.conf").write_text(text)
        includes.append(f"include {tmp_path}/{county}.conf;")
    main = MAIN.format(prefix=tmp_path, worker_connections=64).replace(
        f"include {tmp_path}/infokanal.conf;", "\n".join(includes))
    (tmp_path / "nginx.conf").write_text(main)
    check = subprocess.run([binary, "-t", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path),
                            "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stderr


def test_a_bad_county_name_makes_no_site():
    result = subprocess.run([str(ROOT / "deploy" / "nginx" / "tenant-site"), "oster holz",
                             "info.example", "8001"], capture_output=True, text=True, timeout=10)
    assert result.returncode == 2 and "county" in result.stderr


# --- two counties side by side ---------------------------------------------------------------

class County:
    """One county's units, run from the templates with its own env file."""

    def __init__(self, root, name, number, sender):
        self.name, self.root = name, root
        self.fake = FakeTwilio(account_sid="AC" + number * 32,
                               auth_token=f"auth-token-of-{name}").start()
        self.fake.callbacks = ["sent", "delivered"]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = f"admin-token-of-{name}-long-enough-for-production"
        self.sender = sender
        self.env = {
            "PORT": str(self.port), "PUBLIC_URL": self.url, "ADMIN_TOKEN": self.token,
            "DATA_KEY": new_key(), "TWILIO_ACCOUNT_SID": self.fake.account_sid,
            "TWILIO_AUTH_TOKEN": self.fake.auth_token, "TWILIO_WHATSAPP_FROM": sender,
            "TWILIO_API_URL": self.fake.url, "AUTHORITY_NAME": f"Landkreis {name.title()}",
            "CONTACT_INFO": "Bürgertelefon 0800 123 456", "SENDER_POLL_SECONDS": "0.05",
            "WEB_CONCURRENCY": "1",
        }
        # As the operator writes it: /etc/infokanal/<county>.env (here under root/etc).
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc" / f"{name}.env").write_text(
            "".join(f"{key}={value}\n" for key, value in self.env.items()))
        # systemd's StateDirectory=: made for the county's account, 0700.
        (root / "lib" / name).mkdir(parents=True, mode=0o700)
        self.processes = []
        self.session = requests.Session()

    def run(self, unit):
        return unit_command(TEMPLATES[unit], self.name, self.root)

    def start(self):
        for unit in ("web", "worker"):
            argv, cwd, environment = self.run(unit)
            log = open(self.root / f"{self.name}-{unit}.log", "wb")
            self.processes.append((subprocess.Popen(
                argv, cwd=cwd, env=environment, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True), log))

    def wait_started(self):
        wait_for(self._up, timeout=30, message=f"{self.name}'s web process")
        wait_for(lambda: "Sender running" in self.log("worker"), timeout=30,
                 message=f"{self.name}'s worker")

    def _up(self):
        for process, _ in self.processes:
            assert process.poll() is None, self.log("web") + self.log("worker")
        try:
            return self.session.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def log(self, unit):
        path = self.root / f"{self.name}-{unit}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def command(self, *args, stdin=""):
        """``flask --app wsgi …`` as the operator runs it for this county: in its folder, with
        its settings (the worker unit's environment)."""
        argv, cwd, environment = self.run("worker")
        argv = argv[:argv.index("wsgi") + 1] + list(args)
        return subprocess.run(argv, cwd=cwd, env=environment, input=stdin, capture_output=True,
                              text=True, timeout=60)

    def api(self, method, path, token=None, **kwargs):
        return self.session.request(method, self.url + path, timeout=30, headers={
            "Authorization": f"Bearer {token or self.token}"}, **kwargs)

    def writes(self, number, text, signed_by=None):
        """A citizen's message to this county's number, signed with ``signed_by``'s token (by
        default the county's own Twilio account)."""
        params = {"MessageSid": f"SM{os.urandom(16).hex()}", "From": f"whatsapp:{number}",
                  "To": self.sender, "Body": text, "AccountSid": self.fake.account_sid,
                  "NumMedia": "0"}
        url = self.url + "/twilio/messages"
        signature = RequestValidator((signed_by or self).fake.auth_token).compute_signature(
            url, params)
        return requests.post(url, data=params, headers={"X-Twilio-Signature": signature},
                             timeout=10)

    def signal_stop(self):
        # gunicorn's quick shutdown (SIGQUIT) for the web process; the sender ends on SIGTERM.
        for (process, _), sig in zip(self.processes, (signal.SIGQUIT, signal.SIGTERM)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)

    def stop(self):
        for process, log in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
            log.close()
        self.session.close()
        self.fake.stop()


@pytest.fixture(scope="module")
def counties(tmp_path_factory):
    root = tmp_path_factory.mktemp("counties")
    started = []
    try:
        with time_bound(90):
            for name, digit, sender in (("osterholz", "1", "whatsapp:+494791930001"),
                                        ("rotenburg", "2", "whatsapp:+494261983001")):
                county = County(root, name, digit, sender)
                started.append(county)
                county.start()
            # Meanwhile the operator makes each county's first console account: the same
            # name and password in both, still two accounts in two databases.
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                made = list(pool.map(lambda county: county.command(
                    "users", "add", "presse", "--role", "admin", "--password-stdin",
                    stdin=f"{PASSWORD}\n"), started))
            assert [m.returncode for m in made] == [0, 0], [m.stdout + m.stderr for m in made]
            for county in started:
                county.wait_started()
        yield started
    finally:
        for county in started:  # all at once, then each waited for
            county.signal_stop()
        for county in started:
            county.stop()


@pytest.fixture(autouse=True)
def bounded():
    with time_bound(TEST_SECONDS):
        yield


def test_each_county_has_its_own_folder_database_and_session_key(counties):
    for county in counties:
        folder = county.root / "lib" / county.name
        assert (folder / "infokanal.db").exists() and (folder / "secret-key").exists()
    one, other = (c.root / "lib" / c.name / "secret-key" for c in counties)
    assert one.read_bytes() != other.read_bytes()


def test_a_countys_token_opens_only_its_own_api(counties):
    osterholz, rotenburg = counties
    assert osterholz.api("GET", "/api/stats").status_code == 200
    assert rotenburg.api("GET", "/api/stats").status_code == 200
    assert osterholz.api("GET", "/api/stats", token=rotenburg.token).status_code == 401
    assert rotenburg.api("GET", "/api/stats", token=osterholz.token).status_code == 401


def test_a_console_session_of_one_county_is_none_in_the_other(counties):
    sessions = {}
    for county in counties:
        browser = requests.Session()
        form = browser.get(county.url + "/admin/login", timeout=10).text
        signed_in = browser.post(county.url + "/admin/login", timeout=10, data={
            "csrf_token": csrf_from(form), "name": "presse", "password": PASSWORD},
            allow_redirects=False)
        assert signed_in.status_code == 302, signed_in.text
        assert browser.get(county.url + "/admin/", timeout=10,
                           allow_redirects=False).status_code == 200
        sessions[county.name] = browser.cookies
    osterholz, rotenburg = counties
    for county, cookies in ((rotenburg, sessions["osterholz"]), (osterholz, sessions["rotenburg"])):
        answer = requests.get(county.url + "/admin/", cookies=cookies, timeout=10,
                              allow_redirects=False)
        assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]


def test_subscribers_are_each_countys_own_and_both_send_at_once(counties):
    osterholz, rotenburg = counties
    people = {osterholz: ["+4915200000001", "+4915200000002", "+4915200000003"],
              rotenburg: ["+4915200000003", "+4915200000004"]}  # one citizen in both
    for county, numbers in people.items():
        for number in numbers:
            answer = county.writes(number, "Start")
            assert answer.status_code == 200, answer.text
    # A message signed with the other county's Twilio account is refused, and changes nothing.
    assert rotenburg.writes("+4915200000009", "Start", signed_by=osterholz).status_code == 403
    assert [c.api("GET", "/api/stats").json()["subscribers"] for c in counties] == [3, 2]

    def post(county):
        answer = county.api("POST", "/api/broadcasts", json={"text": f"Probealarm {county.name}"})
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ids = dict(zip(counties, pool.map(post, counties)))
    for county, broadcast_id in ids.items():
        wait_for(lambda: county.api("GET", f"/api/broadcasts/{broadcast_id}").json()["status"]
                 == "done", timeout=30, message=f"{county.name}'s broadcast")
    for county, numbers in people.items():
        sent = [m for m in county.fake.messages if m.get("Body", "").startswith("Probealarm")]
        assert sorted(m["To"] for m in sent) == sorted(f"whatsapp:{n}" for n in numbers)
        assert {m["From"] for m in sent} == {county.sender}
        assert {m["Body"] for m in sent} == {f"Probealarm {county.name}"}
        # Their receipts came back to the county that sent them.
        wait_for(lambda: county.api("GET", f"/api/broadcasts/{ids[county]}").json()[
            "counts"]["delivered"] == len(numbers), timeout=20,
            message=f"{county.name}'s receipts")
