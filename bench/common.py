"""Shared pieces of the benchmarks: processes from the Procfile, a fake Twilio, seeding."""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import vault  # noqa: E402
from bot.store import db, subscribers  # noqa: E402
from tests.conftest import free_port, procfile_command  # noqa: E402
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN  # noqa: E402

ADMIN_TOKEN = "bench-admin-token-long-enough-for-production"
PUBLIC_URL = "http://127.0.0.1"


def scratch_dir(prefix):
    """A directory for a run's database, removed when the benchmark exits (a run of 100,000
    subscribers left 400 MB behind). The processes' logs stay, for a run that failed."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def base_env(workdir, **extra):
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+4930901820", "ADMIN_TOKEN": ADMIN_TOKEN,
        "DATA_KEY": vault.new_key(), "DATABASE_PATH": str(Path(workdir) / "bench.db"),
        "HOST": "127.0.0.1",
        # Production refuses to start without the county's name and contact.
        "AUTHORITY_NAME": "Landkreis Testhausen", "CONTACT_INFO": "Bürgertelefon 01234 5678",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Proc:
    def __init__(self, args, env, name):
        full = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        full.update(env)
        full["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full["PATH"]
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log",
                                               delete=False)
        self.proc = subprocess.Popen(args, cwd=ROOT, env=full, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid

    def stop(self):
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def output(self):
        return Path(self.log.name).read_text(errors="replace")


def procfile(name, env):
    return Proc(["bash", "-c", "exec " + procfile_command(name)], env, name)


def start_web(env):
    port = free_port()
    env = dict(env, PORT=str(port))
    web = procfile("web", env)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", web)
    web.url = url
    return web


def wait_http(url, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        if proc.proc.poll() is not None:
            raise RuntimeError(proc.output())
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer:\n{proc.output()}")


def start_fake_twilio(latency):
    port = free_port()
    fake = Proc([sys.executable, "-m", "tests.fake_twilio", "--port", str(port), "--latency",
                 str(latency)], {}, "fake-twilio")
    fake.url = f"http://127.0.0.1:{port}"
    wait_http(fake.url + "/_fake/stats", fake)
    return fake


def fake_stats(fake):
    return requests.get(fake.url + "/_fake/stats", timeout=10).json()


def fake_config(fake, **settings):
    requests.post(fake.url + "/_fake/config", data=json.dumps(settings), timeout=10)


def seed_subscribers(env, count):
    """Subscribe ``count`` numbers through the same storage code the webhook uses."""
    fernet = vault.parse_data_key(env["DATA_KEY"])
    lookup = db.init_db(env["DATABASE_PATH"], fernet)
    box = vault.Vault(fernet, lookup)
    database = db.connect(env["DATABASE_PATH"])
    with db.write(database) as conn:
        for i in range(count):
            number = f"+49151{i:08d}"
            subscribers.subscribe(conn, box.hash(number), box.encrypt(number), "Start",
                                  f"SMseed{i}")
    database.conn.close()


def rss_mb(pid):
    """Resident memory of a process and its children, in MB (Linux /proc)."""
    total = 0
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        pids += [int(p) for p in children.stdout.split()]
    except FileNotFoundError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def cpu_seconds(pid, split=False):
    """User + system CPU time a process has used so far (Linux /proc); (user, system) with
    ``split``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = (int(fields[11]) / os.sysconf("SC_CLK_TCK"),
                    int(fields[12]) / os.sysconf("SC_CLK_TCK"))
    return (user, system) if split else user + system
