"""The replica's parts one by one: its settings, the sender's lease (in a file beside a file
replica, and in S3 on moto's server), the answer when the replica cannot confirm in time, the
idle replica process without REPLICA_URL, a running sender fenced off by a failover, and the
WAL bounded while Litestream replicates. The whole failover: test_replica_failover.py."""

import os
import re
import shutil
import signal
import socketserver
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from bot import config as config_module
from bot import create_app
from bot.store import db, lease
from bot.store import replica as replication
from tests import failover_scenario
from tests.conftest import (ADMIN_TOKEN, OFFICER, Console, Process, citizens_of, free_port,
                            reply_text, time_bound, wait_for)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def short_dir():
    """A directory with a short path: a Unix socket's path has at most 107 bytes."""
    path = tempfile.mkdtemp(prefix="rp", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


# --- settings -------------------------------------------------------------------------------


def test_replica_settings_have_their_defaults_and_are_checked(tmp_path):
    values = config_module.load(str(tmp_path), {})
    assert (values["REPLICA_URL"], values["REPLICA_WAIT_SECONDS"],
            values["REPLICA_LEASE_SECONDS"]) == ("", 2.0, 30.0)
    for bad, said in [({"REPLICA_URL": "ftp://host/x"}, "REPLICA_URL must look like"),
                      ({"REPLICA_URL": "file://relative/x"}, "absolute path"),
                      ({"REPLICA_URL": "s3://"}, "REPLICA_URL must look like"),
                      ({"REPLICA_S3_ENDPOINT": "minio:9000"}, "http(s) URL"),
                      ({"REPLICA_WAIT_SECONDS": 0}, "REPLICA_WAIT_SECONDS"),
                      ({"REPLICA_LEASE_SECONDS": 1}, "at least 5")]:
        with pytest.raises(config_module.ConfigError, match=re.escape(said)):
            config_module.load(str(tmp_path), bad)
    for good in ("file:///srv/replica/infokanal", "s3://bucket/infokanal",
                 "sftp://backup@standby.example.de/infokanal"):
        assert config_module.load(str(tmp_path), {"REPLICA_URL": good})["REPLICA_URL"] == good


def test_litestream_config_names_the_endpoint_and_holds_no_secret(tmp_path):
    settings = {"DATABASE_PATH": str(tmp_path / "infokanal.db"),
                "REPLICA_URL": "s3://bucket/kreis", "REPLICA_S3_ENDPOINT": "http://127.0.0.1:9"}
    generated = replication.litestream_config(settings)
    assert generated["dbs"][0]["replica"] == {
        "url": "s3://bucket/kreis", "sync-interval": "1s", "endpoint": "http://127.0.0.1:9",
        "force-path-style": True}
    assert generated["socket"]["path"] == f"{tmp_path}/infokanal.db-litestream.sock"
    path = replication.write_config(settings)
    assert os.stat(path).st_mode & 0o077 == 0
    assert "secret" not in Path(path).read_text().lower()


# --- the lease ------------------------------------------------------------------------------


def lease_story(store):
    """The primary holds and renews; the standby is refused while it is valid and takes it
    over once it lapsed; the primary is then fenced. Every write is conditional."""
    first = lease.hold(store, "primary", 5)
    assert (first.owner, first.generation) == ("primary", 1)
    assert lease.hold(store, "primary", 5).renewed >= first.renewed
    with pytest.raises(lease.LeaseHeld, match=r"Wait \d+ seconds"):
        lease.take_over(store, "standby", 5)
    with pytest.raises(lease.LeaseTaken):
        lease.hold(store, "standby", 5)
    holder, tag = store.read()
    # A write on what was read before someone else's write is refused.
    store.write(lease.Holder("primary", 1, time.time() - 10, time.time() - 5), tag)
    with pytest.raises(lease.Conflict):
        store.write(lease.Holder("standby", 2, time.time(), time.time() + 5), tag)
    with pytest.raises(lease.Conflict):
        store.write(lease.Holder("standby", 2, time.time(), time.time() + 5), None)
    taken = lease.take_over(store, "standby", 5)  # it lapsed 5 seconds ago
    assert (taken.owner, taken.generation) == ("standby", 2)
    with pytest.raises(lease.LeaseTaken, match="names another machine"):
        lease.hold(store, "primary", 5)
    # Lapsed or not, the replaced primary never takes it back by renewing.
    store.write(lease.Holder("standby", 2, time.time() - 10, time.time() - 5), store.read()[1])
    with pytest.raises(lease.LeaseTaken):
        lease.hold(store, "primary", 5)


def test_the_lease_file_beside_a_file_replica(tmp_path):
    store = lease.store_for({"REPLICA_URL": f"file://{tmp_path}/replica"})
    assert store.describe() == f"{tmp_path}/replica.lease"
    lease_story(store)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = failover_scenario.S3Server(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


def test_the_lease_object_beside_an_s3_replica_with_conditional_writes(s3, monkeypatch):
    for name, value in failover_scenario.AWS.items():
        monkeypatch.setenv(name, value)
    store = lease.store_for({"REPLICA_URL": f"s3://{failover_scenario.BUCKET}/unit",
                             "REPLICA_S3_ENDPOINT": s3.url})
    assert store.describe() == f"s3://{failover_scenario.BUCKET}/unit.lease"
    lease_story(store)


def test_an_s3_store_that_does_not_answer_is_said_plainly(monkeypatch):
    for name, value in failover_scenario.AWS.items():
        monkeypatch.setenv(name, value)
    store = lease.store_for({"REPLICA_URL": "s3://bucket/kreis",
                             "REPLICA_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(OSError, match="reading s3://bucket/kreis.lease"):
        store.read()
    with pytest.raises(OSError, match="writing s3://bucket/kreis.lease"):
        store.write(lease.Holder("me", 1, time.time(), time.time() + 5), None)


# --- answered although the replica does not confirm -------------------------------------------


class _Control(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def control_socket(path, answer):
    """Litestream's control socket as a stand-in: ``answer`` None never answers a sync (a
    store that does not respond), else the JSON it answers with."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            if answer is None:
                release.wait(30)
                return
            body = answer.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = _Control(path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop():
        release.set()
        server.shutdown()
        server.server_close()
        os.remove(path)

    return stop


@pytest.fixture
def replicated(config, short_dir):
    config.update(DATABASE_PATH=str(short_dir / "infokanal.db"),
                  REPLICA_URL=f"file://{short_dir}/replica", REPLICA_WAIT_SECONDS=1)
    return create_app(config)


def unconfirmed(app):
    with db.opened(app.config["DATABASE_PATH"]) as database:
        conn = database.conn
        row = conn.execute("SELECT value FROM counters WHERE name = ?",
                           (replication.UNCONFIRMED,)).fetchone()
        return (row[0] if row else 0), replication.behind_since(conn)


def test_a_start_is_answered_after_the_wait_when_the_replica_does_not_confirm(replicated,
                                                                               officer):
    client = replicated.test_client()
    stop = control_socket(replication.socket_path(replicated.config), None)
    try:
        started = time.monotonic()
        response = citizens_of(client)().send("Start")
        waited = time.monotonic() - started
    finally:
        stop()
    assert response.status_code == 200 and reply_text(response.get_data(as_text=True))
    assert 0.9 <= waited < 5
    count, since = unconfirmed(replicated)
    assert count == 1 and since
    # No Litestream at all: answered at once, counted too.
    assert citizens_of(client)().send("Stop").status_code == 200
    assert unconfirmed(replicated)[0] == 2
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert "infokanal_replica_unconfirmed_total 2.0" in metrics.get_data(as_text=True)
    assert "infokanal_replica_behind_since_timestamp_seconds" in metrics.get_data(as_text=True)
    console = Console(client)
    assert console.sign_in().status_code == 302
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="replica-behind"' in page and "im Rückstand" in page
    # The next change the replica confirms clears it.
    stop = control_socket(replication.socket_path(replicated.config),
                          '{"status": "synced", "txid": 9, "replicated_txid": 9}')
    try:
        assert citizens_of(client)().send("Start").status_code == 200
    finally:
        stop()
    assert unconfirmed(replicated) == (2, None)
    assert 'id="replica-behind"' not in client.get("/admin/").get_data(as_text=True)


def test_a_machine_replaced_in_a_failover_takes_no_change_but_can_still_be_read(replicated,
                                                                                  officer):
    path = replicated.config["DATABASE_PATH"]
    lease.mark_replaced(path, "standby/2")
    first = lease.replaced_by(path)
    time.sleep(1.1)
    lease.mark_replaced(path, "standby/2")  # a sender restarted by systemd notes it again
    assert lease.replaced_by(path) == first
    client = replicated.test_client()
    # Signing in still works, to read the old state and the notice.
    console = Console(client)
    assert console.sign_in().status_code == 302

    refused = citizens_of(client)().send("Start")
    assert refused.status_code == 503
    assert "replaced in a failover" in refused.get_json()["error"]
    assert "standby/2" not in refused.get_data(as_text=True)  # no token asked for yet
    api = client.post("/api/broadcasts", json={"text": "Nur hier gespeichert"},
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert api.status_code == 503
    form = console.post("/admin/compose", {"text": "Nur hier gespeichert"})
    assert form.status_code == 503 and "Dieser Server wurde ersetzt" in form.text
    with db.opened(path) as database:
        conn = database.conn
        assert conn.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM broadcasts").fetchone()[0] == 0
    # Unconfirmed changes were never even tried.
    assert unconfirmed(replicated) == (0, None)
    # Nor do the commands that change something run here.
    runner = replicated.test_cli_runner()
    for args in (["broadcast", "Nur hier"], ["users", "role", OFFICER, "admin"],
                 ["privacy", "erase", "+4915112345678"]):
        ran = runner.invoke(args=args)
        assert ran.exit_code == 1 and "replaced in a failover" in ran.output, (args, ran.output)

    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "replaced", "since": first["at"]}
    page = client.get("/admin/")
    assert page.status_code == 200
    assert 'id="replica-replaced"' in page.get_data(as_text=True)
    assert client.get("/").status_code == 200
    # The note lives beside the database, never in it: Litestream cannot copy it away.
    with db.opened(path) as database:
        assert "standby" not in str(database.conn.execute("SELECT * FROM meta").fetchall())

    # A second failover elsewhere names the newer owner; a failover here clears it.
    lease.mark_replaced(path, "standby/3")
    assert lease.replaced_by(path)["owner"] == "standby/3"
    lease.clear_replaced(path)
    assert citizens_of(client)().send("Start").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_without_replica_url_no_wait_and_nothing_counted(app, client):
    assert citizens_of(client)().send("Start").status_code == 200
    assert unconfirmed(app) == (0, None)


# --- the replica process --------------------------------------------------------------------


def test_without_replica_url_the_replica_process_says_so_once_and_waits(env):
    with time_bound(60):
        process = Process("replica", env)
        try:
            wait_for(lambda: "REPLICA_URL is not set" in process.output(), timeout=30,
                     message="the idle message")
            time.sleep(1)
            assert process.proc.poll() is None
            assert process.output().count("REPLICA_URL is not set") == 1
        finally:
            process.stop(signal.SIGTERM)
        assert process.proc.returncode == 0


def test_a_running_sender_stops_once_a_failover_took_its_lease(env, short_dir):
    env = dict(env, DATABASE_PATH=str(short_dir / "infokanal.db"),
               REPLICA_URL=f"file://{short_dir}/replica", REPLICA_LEASE_SECONDS="5")
    with time_bound(90):
        worker = Process("worker", env)
        try:
            wait_for(lambda: "Sender running" in worker.output()
                     or worker.proc.poll() is not None, timeout=30, message="the worker")
            assert worker.proc.poll() is None, worker.output()
            store = lease.FileStore(f"{short_dir}/replica")
            holder, tag = store.read()
            assert holder.owner == lease.identity(env)
            # The standby took over after the primary's lease lapsed (a partition).
            store.write(lease.Holder("standby/1", holder.generation + 1, time.time(),
                                     time.time() + 5), tag)
            wait_for(lambda: worker.proc.poll() is not None, timeout=15,
                     message="the fenced sender to stop")
            said = worker.output()
        finally:
            worker.stop()
    assert worker.proc.returncode != 0
    assert "Sending stopped" in said and "standby/1" in said
    # ... and noted it, so that this machine's web process takes no change any more.
    assert lease.replaced_by(env["DATABASE_PATH"])["owner"] == "standby/1"


# --- checkpoints while replicating ------------------------------------------------------------


def test_no_truncate_or_restart_checkpoints_in_the_service():
    """Litestream holds a read transaction while it copies the WAL: a TRUNCATE or RESTART
    checkpoint would wait for it for the whole busy timeout, and every writer behind it."""
    for path in (ROOT / "bot").rglob("*.py"):
        text = path.read_text(encoding="utf-8").upper()
        assert "WAL_CHECKPOINT(TRUNCATE" not in text and "WAL_CHECKPOINT(RESTART" not in text, path


def test_the_wal_stays_bounded_and_writers_never_stall_while_litestream_replicates(
        env, short_dir, monkeypatch):
    # The service's connections while it replicates (create_app sets this from REPLICA_URL).
    monkeypatch.setattr(db, "_wal_pages", db.REPLICATED_WAL_PAGES)
    env = dict(env, DATABASE_PATH=str(short_dir / "infokanal.db"),
               REPLICA_URL=f"file://{short_dir}/replica")
    path = env["DATABASE_PATH"]
    fernet_key = env["DATA_KEY"]
    from bot import vault

    db.init_db(path, vault.parse_data_key(fernet_key))
    with time_bound(120):
        replica = failover_scenario.start_replica(env)
        try:
            database = db.connect(path)
            with db.write(database) as conn:
                conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
            # 4 MB/s of new pages for 10 s: ten times the WAL's checkpoint size, and far more
            # than a storm night's webhooks write.
            largest, slowest, written = 0, 0.0, 0
            began = time.monotonic()
            while time.monotonic() - began < 10:
                started = time.monotonic()
                with db.write(database) as conn:
                    conn.executemany("INSERT INTO filler (data) VALUES (randomblob(4000))",
                                     [()] * 10)
                slowest = max(slowest, time.monotonic() - started)
                written += 10 * 4000
                largest = max(largest, os.path.getsize(f"{path}-wal"))
                ahead = written / 4e6 - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            database.conn.close()
        finally:
            replica.stop()
    print(f"\n{written / 1e6:.0f} MB written in 10 s; WAL at most {largest / 1e6:.1f} MB; "
          f"slowest write {slowest * 1000:.0f} ms")
    assert written > 30e6
    assert largest < 48e6          # Litestream checkpoints from 4 MB on; never unbounded
    assert slowest < 2.0           # a TRUNCATE checkpoint would stall a writer 10 s


# --- concurrent syncs -------------------------------------------------------------------------


def _write_and_confirm(path, seconds, seed):
    """A web worker during a storm: short writes, each confirmed by the replica."""
    import random

    settings = {"DATABASE_PATH": path, "REPLICA_URL": "file:///unused", "REPLICA_WAIT_SECONDS": 2}
    # As every process of a replicated service does (create_app): checkpoints left to Litestream.
    db.leave_checkpoints_to_litestream(True)
    database = db.connect(path)
    chosen = random.Random(seed)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with db.write(database) as conn:
            for _ in range(5):
                conn.execute("INSERT INTO churn (k, v, w) VALUES (?, randomblob(200), ?) "
                             "ON CONFLICT (k) DO UPDATE SET v = randomblob(150), w = excluded.w",
                             (chosen.randrange(200_000), chosen.randrange(1000)))
            if chosen.random() < 0.3:
                conn.execute("DELETE FROM churn WHERE k IN "
                             "(SELECT k FROM churn ORDER BY random() LIMIT 3)")
        replication.sync_and_wait(settings)


def test_confirmations_from_several_processes_leave_a_replica_that_restores_intact(env,
                                                                                  short_dir):
    """Litestream 0.5.17, asked to sync by several processes at once, wrote a replica whose
    restore failed integrity_check (index entries missing); one sync at a time, with the
    service's own checkpoints left to Litestream as every replicated process leaves them, it
    does not. (With SQLite's default checkpoints beside Litestream's, this still failed once
    under load: Litestream's advice is to leave checkpoints to it.)"""
    import multiprocessing
    import sqlite3

    env = dict(env, DATABASE_PATH=str(short_dir / "infokanal.db"),
               REPLICA_URL=f"file://{short_dir}/replica")
    path = env["DATABASE_PATH"]
    from bot import vault

    db.init_db(path, vault.parse_data_key(env["DATA_KEY"]))
    with db.opened(path) as database, db.write(database) as conn:
        conn.execute("CREATE TABLE churn (id INTEGER PRIMARY KEY, k INTEGER UNIQUE, v BLOB, "
                     "w INTEGER)")
        conn.execute("CREATE INDEX churn_w ON churn (w)")
    with time_bound(150):
        replica = failover_scenario.start_replica(env)
        try:
            writers = [multiprocessing.get_context("fork").Process(
                target=_write_and_confirm, args=(path, 20, seed)) for seed in range(3)]
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.join(60)
        finally:
            replica.stop(signal.SIGKILL)
        config = dict(config_module.load(str(short_dir), {}), **{
            "DATABASE_PATH": path, "REPLICA_URL": env["REPLICA_URL"]})
        replication.restore(config, str(short_dir / "restored.db"))
    restored = sqlite3.connect(short_dir / "restored.db")
    try:
        assert [row[0] for row in restored.execute("PRAGMA integrity_check")] == ["ok"]
        kept = restored.execute("SELECT count(*) FROM churn").fetchone()[0]
    finally:
        restored.close()
    with sqlite3.connect(path) as original:
        assert kept == original.execute("SELECT count(*) FROM churn").fetchone()[0]


def test_while_replicating_checkpoints_are_left_to_litestream(config, short_dir):
    def pages(settings):
        app = create_app(settings)
        with db.opened(app.config["DATABASE_PATH"]) as database:
            return database.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

    replicated = dict(config, DATABASE_PATH=str(short_dir / "infokanal.db"),
                      REPLICA_URL=f"file://{short_dir}/replica")
    assert pages(replicated) == db.REPLICATED_WAL_PAGES
    assert pages(config) == db.WAL_PAGES
