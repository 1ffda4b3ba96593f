"""The failover on the storm night, end to end, shared by the suite (small sizes) and
``bench/replica.py`` (the full sizes: 2,000 Starts and Stops, 5,000 recipients).

Two "machines" on this one: a primary and a standby, each a directory and a port of its own,
the same county (DATA_KEY, number, REPLICA_URL). The primary runs the Procfile's web, worker and
replica; a storm of citizens writes Start and Stop while a broadcast goes out; halfway through
the broadcast the primary's three process groups are killed with SIGKILL. The standby, which
followed the replica, is promoted with ``scripts/flask failover`` (refused first, while the
primary's lease is still valid), then started as usual and finishes the broadcast.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import boto3

from bot import vault
from bot.store import db, subscribers
from bot.vault import new_key
from tests.conftest import (ADMIN_TOKEN, COUNTY_NUMBER, PROCESS_AUTHORITY, ROOT, Process,
                            WebServer, audit_trail_broken, free_port, wait_for)
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

BUCKET = "infokanal-replica"
LEASE_SECONDS = 15      # short, since the test waits it out once; the refusal comes first,
                        # within seconds of the kill even on a busy machine
TEXT = "Unwetterwarnung: Sturmböen bis 110 km/h, bitte Fenster und Türen schließen"
AWS = {"AWS_ACCESS_KEY_ID": "testing-not-a-real-key", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_REGION": "us-east-1"}


class S3Server:
    """moto's S3 server on loopback with the replica's bucket."""

    def __init__(self, log_dir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(log_dir) / "moto.log", "wb")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
             str(self.port)], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                              aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"])

        def bucket_made():
            try:
                client.create_bucket(Bucket=BUCKET)
                return True
            except Exception:  # noqa: BLE001 - not listening yet
                return False

        wait_for(bucket_made, timeout=30, interval=0.2, message="moto's S3 server")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)
        self.log.close()


def replica_settings(kind, root, s3=None):
    """REPLICA_URL and what goes with it, for a file replica under ``root`` or one in S3."""
    if kind == "file":
        return {"REPLICA_URL": f"file://{root}/replica"}
    return {"REPLICA_URL": f"s3://{BUCKET}/{Path(root).name}", "REPLICA_S3_ENDPOINT": s3.url,
            **AWS}


def start_replica(env):
    """The Procfile's replica process, once Litestream's control socket is there."""
    replica = Process("replica", env)
    socket = Path(f"{env['DATABASE_PATH']}-litestream.sock")
    try:
        wait_for(lambda: socket.exists() or replica.proc.poll() is not None, timeout=30,
                 message="Litestream's control socket")
        assert replica.proc.poll() is None, replica.output()
    except BaseException:
        replica.stop(signal.SIGKILL)
        raise
    return replica


class Site:
    """One machine: its directory, port and Procfile processes."""

    def __init__(self, root, name, county):
        self.dir = Path(root) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = dict(county, DATABASE_PATH=str(self.dir / "infokanal.db"), PORT=str(self.port),
                        PUBLIC_URL=f"http://127.0.0.1:{self.port}")
        self.web = self.worker = self.replica = None

    def start(self):
        self.web = WebServer(self.env)
        self.replica = start_replica(self.env)
        self.worker = Process("worker", self.env)
        wait_for(lambda: "Sender running" in self.worker.output()
                 or self.worker.proc.poll() is not None, timeout=30, message="the worker")
        assert self.worker.proc.poll() is None, self.worker.output()
        return self

    def processes(self):
        return [p for p in (self.web, self.worker, self.replica) if p is not None]

    def kill(self):
        """SIGKILL to each process group (gunicorn's workers and Litestream included)."""
        for process in self.processes():
            process.send_signal(signal.SIGKILL)
        for process in self.processes():
            process.proc.wait(10)
            process.log.close()
        self.web.session.close()

    def stop(self):
        for process in self.processes():
            if process.proc.poll() is None:
                process.stop()

    def cli(self, *args, timeout=120):
        """``scripts/flask ARGS`` on this machine."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "REPLICA_"))}
        env.update(self.env)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
        return subprocess.run([sys.executable, "-m", "bot.ops.cli", "--app", "wsgi", *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)

    def database(self):
        return sqlite3.connect(self.env["DATABASE_PATH"])


def county_settings(fake, replica, rate):
    return {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_WHATSAPP_FROM": COUNTY_NUMBER, "TWILIO_API_URL": fake.url,
            "BROADCAST_CONTENT_SID": "HX" + "a" * 32, "ADMIN_TOKEN": ADMIN_TOKEN,
            "DATA_KEY": new_key(), "AUTHORITY_NAME": PROCESS_AUTHORITY,
            "CONTACT_INFO": "Bürgertelefon 0800 123 456", "SENDER_POLL_SECONDS": "0.05",
            "SEND_RATE_LIMIT": str(rate), "REPLICA_LEASE_SECONDS": str(LEASE_SECONDS),
            "REPLICA_WAIT_SECONDS": "2", **replica}


def seed(env, count):
    """``count`` subscribers, made through the storage code the webhook uses."""
    fernet = vault.parse_data_key(env["DATA_KEY"])
    box = vault.Vault(fernet, db.init_db(env["DATABASE_PATH"], fernet))
    database = db.connect(env["DATABASE_PATH"])
    try:
        with db.write(database) as conn:
            for n in range(count):
                number = f"+49160{n:08d}"
                subscribers.subscribe(conn, box.hash(number), box.encrypt(number), "Start",
                                      f"SMseed{n}")
    finally:
        database.conn.close()


class Storm:
    """Citizens writing Start, Stop, Start, … (each one a change), several at once, until
    ``total`` were sent or the server stops answering. ``answered``: (MessageSid, action) of
    every request answered 200."""

    THREADS = 8
    NUMBERS = 50  # per thread: each comes back to Stop what it started

    def __init__(self, web, total):
        self.web, self.total = web, total
        self.answered = []
        self.unanswered = 0
        self._sent = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(self.THREADS)]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout=60):
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, index):
        numbers = [f"+49170{index:02d}{n:06d}" for n in range(self.NUMBERS)]
        state = {}
        turn = 0
        while True:
            with self._lock:
                if self._sent >= self.total:
                    return
                self._sent += 1
            number = numbers[turn % len(numbers)]
            turn += 1
            action = "stop" if state.get(number) else "start"
            citizen = self.web.citizen(number)
            params = citizen.params("Stop" if action == "stop" else "Start")
            try:
                response = citizen.post_signed("/twilio/messages", params)
            except Exception:  # noqa: BLE001 - the server was killed
                with self._lock:
                    self.unanswered += 1
                return
            if response.status_code != 200:
                with self._lock:
                    self.unanswered += 1
                return
            state[number] = action == "start"
            with self._lock:
                self.answered.append((params["MessageSid"], action))


def broadcast_count(fake):
    return sum(1 for m in list(fake.messages) if m.get("ContentSid"))


def run(kind, root, storm_total, recipients, rate, s3=None, report=print, hold=True):
    """The whole scenario; returns the figures (and asserts what must hold).

    ``hold``: the fake holds the broadcast at half until the kill, so that the kill comes
    halfway on any machine (the suite); without it the kill comes when half was sent, with
    the sends in flight that a real kill meets (the benchmark: the possibly-twice count)."""
    fake = FakeTwilio().start()
    county = county_settings(fake, replica_settings(kind, root, s3), rate)
    primary, standby = Site(root, "primary", county), Site(root, "standby", county)
    follower = None
    try:
        seed(primary.env, recipients)
        primary.start()
        follower = subprocess.Popen(
            [sys.executable, "-m", "bot.ops.cli", "--app", "wsgi", "replica", "follow"],
            cwd=ROOT, env={**{k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")},
                           **standby.env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        # The broadcast stops at half (the fake holds every further send) while the storm goes
        # on, so the kill comes halfway through both on any machine.
        if hold:
            fake.hold(recipients // 2)
        answer = primary.web.api("POST", "/api/broadcasts", json={"text": TEXT})
        assert answer.status_code == 202, answer.text
        storm = Storm(primary.web, storm_total).start()
        wait_for(lambda: broadcast_count(fake) >= recipients // 2
                 and (not hold or len(storm.answered) >= storm_total // 2), timeout=300,
                 interval=0.01,
                 message="half the broadcast and half the storm")
        killed_at = time.time()
        primary.kill()
        # Litestream went with its process (the kernel kills it when its parent dies): no
        # sync happens after the kill.
        wait_for(lambda: not litestreams_of(primary.env["DATABASE_PATH"]), timeout=5,
                 message="the primary's Litestream to be gone")
        fake.release()
        # Refused while the primary's lease is valid: says why and how long to wait.
        refused = standby.cli("failover")
        storm.join()
        sent_before = broadcast_count(fake)
        report(f"{kind}: killed with {sent_before} of {recipients} sent and "
               f"{len(storm.answered)} Starts/Stops answered "
               f"({storm.unanswered} in flight, unanswered)")

        assert refused.returncode != 0, refused.stdout
        assert "still holds the sender's lease" in refused.stderr and "Wait" in refused.stderr, \
            refused.stderr
        # The standby's copy, and how far behind it is.
        status = standby.cli("replica", "status")
        assert status.returncode == 0, status.stderr
        report(status.stdout.strip())
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(30) == 0, follower.stderr.read()

        deadline = time.monotonic() + LEASE_SECONDS + 60
        while (promoted := standby.cli("failover")).returncode != 0:
            assert time.monotonic() < deadline, promoted.stderr
            time.sleep(0.5)
        assert "Failover done" in promoted.stdout, promoted.stdout
        promoted_at = time.time()

        # 0 lost: every Start and Stop answered 200 is on the standby.
        with standby.database() as conn:
            kept = dict(conn.execute("SELECT message_sid, action FROM consent_events"))
        expected = {"start": "subscribe", "stop": "unsubscribe"}
        lost = [sid for sid, action in storm.answered if kept.get(sid) != expected[action]]
        assert lost == [], f"{len(lost)} answered Starts/Stops lost"
        assert audit_trail_broken(standby.env["DATABASE_PATH"]) is None
        verified = standby.cli("audit", "verify")
        assert verified.returncode == 0, verified.stderr
        assert consent_disagreeing(standby) == []

        # The standby finishes the broadcast.
        standby.start()
        broadcast_id = answer.json()["id"]
        wait_for(lambda: standby.web.api("GET", f"/api/broadcasts/{broadcast_id}").json()
                 ["status"] == "done", timeout=120, interval=0.2, message="the broadcast")
        taken = [m for m in list(fake.messages) if m.get("ContentSid")]
        first_from_standby = min(m["received_at"] for m in taken if m["received_at"] > promoted_at)
        per_recipient = Counter(m["To"] for m in taken)
        missing = recipients - len([n for n in per_recipient if n.startswith("whatsapp:+49160")])
        twice = sum(1 for n in per_recipient.values() if n > 1)
        assert missing == 0, f"{missing} recipients missing"
        figures = {"kind": kind, "answered": len(storm.answered), "lost": len(lost),
                   "sent_before_kill": sent_before, "missing": missing, "possibly_twice": twice,
                   "kill_to_first_standby_message": first_from_standby - killed_at,
                   "kill_to_promoted": promoted_at - killed_at}
        report(f"{kind}: 0 of {len(storm.answered)} answered Starts/Stops lost; broadcast "
               f"finished from the standby, 0 missing, {twice} recipients possibly twice; "
               f"kill → promoted {figures['kill_to_promoted']:.1f} s, kill → first message "
               f"from the standby {figures['kill_to_first_standby_message']:.1f} s")

        # The promoted standby replicates to the same store from now on.
        wait_for(lambda: "the replica is 0 transactions behind"
                 in standby.cli("replica", "status").stdout, timeout=60, interval=1,
                 message="the new primary's changes in the replica")

        # The old primary comes back: it refuses to send and to replicate.
        standby.stop()
        old = primary.cli("worker", timeout=60)
        assert old.returncode != 0 and "names another machine" in old.stderr, old.stderr
        replica = Process("replica", primary.env)
        try:
            wait_for(lambda: "not replicating" in replica.output()
                     or replica.proc.poll() is not None, timeout=30, message="the old replica")
            assert replica.proc.poll() is None and "took over in a failover" in replica.output()
        finally:
            replica.stop()
        # Its web process, still reachable until the host name moves, takes no change either:
        # a Start answered there would exist only in a database nobody sends from.
        old_web = WebServer(primary.env, ready_status=503)
        try:
            with primary.database() as conn:
                before = conn.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0]
            citizen = old_web.citizen("+4917099000001")
            refused = citizen.post_signed("/twilio/messages", citizen.params("Start"))
            assert refused.status_code == 503, refused.text
            assert "replaced in a failover" in refused.json()["error"]
            assert old_web.api("POST", "/api/broadcasts", json={"text": "Nur hier"}
                               ).status_code == 503
            health = old_web.session.get(old_web.url + "/healthz", timeout=10)
            assert health.json() == {"status": "replaced", "since": health.json()["since"]}
            assert health.status_code == 503
            with primary.database() as conn:
                after = conn.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0]
            assert after == before
        finally:
            old_web.stop()
        if kind == "file":
            # Failing back: once the standby's lease lapsed, a failover here makes this machine
            # the primary again, and its web process takes changes again.
            wait_for(lambda: primary.cli("failover", timeout=120).returncode == 0, timeout=60,
                     interval=2, message="the failover back to the old primary")
            back = WebServer(primary.env)
            try:
                citizen = back.citizen("+4917099000001")
                assert citizen.post_signed("/twilio/messages",
                                           citizen.params("Start")).status_code == 200
            finally:
                back.stop()
        return figures
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
        for site in (primary, standby):
            site.stop()
        fake.stop()


def litestreams_of(database_path):
    """Litestream processes still running for this database (their command line names its
    generated configuration)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and command and command[0].endswith(b"litestream") \
                and f"{database_path}-litestream.yml".encode() in command:
            found.append(int(entry.name))
    return found


def consent_disagreeing(site):
    """Subscribers whose consent records do not end in their subscription (or numbers whose
    last record is a Stop yet are subscribed): empty is right."""
    with site.database() as conn:
        last = dict(conn.execute(
            "SELECT phone_hash, action FROM consent_events WHERE id IN "
            "(SELECT max(id) FROM consent_events GROUP BY phone_hash)"))
        active = {row[0] for row in conn.execute("SELECT phone_hash FROM subscribers")}
    return sorted(h for h in set(last) | active
                  if (h in active) != (last.get(h) == "subscribe"))
