"""The SQLite database: connections, short write transactions, migrations, the lookup key.

Nothing here knows Flask: the web layer keeps one connection per thread (``web.database``),
the sender opens its own with ``connect()``, commands use ``opened()``.
"""

import contextlib
import fcntl
import os
import sqlite3
import stat
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils

from .. import vault

BUSY_TIMEOUT_MS = 10_000
WAL_PAGES = 1000  # SQLite's default: about 4 MB of WAL between checkpoints
# While Litestream replicates, it checkpoints itself (PASSIVE, from 1,000 pages on, after it
# copied them); SQLite's own checkpoint then only steps in should Litestream fall behind.
REPLICATED_WAL_PAGES = 10_000
_wal_pages = WAL_PAGES


def leave_checkpoints_to_litestream(replicated):
    """Connections opened from now on in this process checkpoint at REPLICATED_WAL_PAGES
    (``replicated``) or at WAL_PAGES. At SQLite's default of 1,000 pages, the service's own
    checkpoints ran beside Litestream's: at 2,000 Starts and a 5,000-recipient broadcast the
    replica then restored with index entries missing (once of two runs on S3); with them left
    to Litestream it restored intact."""
    global _wal_pages
    _wal_pages = REPLICATED_WAL_PAGES if replicated else WAL_PAGES


def now_iso(delta_seconds=0):
    """UTC time as a fixed-width ISO string, so that text comparison is time comparison."""
    moment = datetime.now(timezone.utc)
    if delta_seconds:
        moment += timedelta(seconds=delta_seconds)
    return to_iso(moment)


def today_iso():
    """Today's date in UTC, ``2026-11-24``: for what must not be placed closer in time."""
    return now_iso()[:10]


def to_iso(moment):
    """``2026-11-24T03:12:55.123456Z``. isoformat() is C and a webhook calls this several
    times; strftime costs several times more for the same text."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")[:26] + "Z"


def connect(path):
    """Open the database as a sqlite-utils Database; ``.conn`` is the plain connection."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # SQLite's own checkpoint (every WAL_PAGES pages) runs inside the commit, so while this
    # process still holds the write lock (write()): no other writer can append meanwhile, the
    # checkpoint reaches the end of the WAL, and the next writer starts it again from the
    # beginning. Checkpoints run after the lock was released could never catch up with
    # writers in other processes, and the WAL grew without end (to 2 GB in an hour's load).
    conn.execute(f"PRAGMA wal_autocheckpoint = {_wal_pages}")
    # A WAL that did grow (a long read held a checkpoint back) shrinks to this on its next
    # reset instead of keeping its largest size on disk.
    conn.execute(f"PRAGMA journal_size_limit = {WAL_PAGES * 4096 * 2}")
    database = sqlite_utils.Database(conn)
    database.lock_path = f"{path}-writelock"
    return database


_write_lock = threading.Lock()


@contextlib.contextmanager
def _exclusive(db):
    """This process alone holds the database's write lock.

    Writers queue on a lock (threads) and an flock (processes) instead of in SQLite's busy
    handler, which polls in sleeps of 1 to 100 ms and so lets one busy process starve the
    others. The kernel wakes the next waiter as soon as the lock is free. SQLite's own locking
    and busy timeout stay underneath for anything that does not come through here.
    """
    conn = getattr(db, "conn", db)
    fd = _lock_file(getattr(db, "lock_path", None) or _lock_path_of(conn))
    with _write_lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield conn
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def write(db, durable=False):
    """A short write transaction that takes the write lock up front.

    ``BEGIN IMMEDIATE`` waits (busy timeout) for the lock instead of failing half-way through
    the way a deferred transaction upgrading from read to write can, which matters when many
    gunicorn workers write at once. Takes a sqlite-utils Database or a plain connection.
    """
    conn = getattr(db, "conn", db)
    if durable:
        # WAL with synchronous=NORMAL survives a killed process but may lose the last commits
        # on power loss; what must survive that too (a posted warning) syncs on commit.
        conn.execute("PRAGMA synchronous = FULL")
    try:
        with _exclusive(db):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()
    finally:
        if durable:
            conn.execute("PRAGMA synchronous = NORMAL")


_lock_files = {}


def _lock_path_of(conn):
    """The lock file of a plain sqlite3 connection (one not opened through connect())."""
    return conn.execute("PRAGMA database_list").fetchone()[2] + "-writelock"


def _lock_file(path):
    key = (os.getpid(), path)
    fd = _lock_files.get(key)
    if fd is None:
        fd = _lock_files[key] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return fd


# The database holds password hashes and the encrypted numbers; its side files hold pages of
# it. Nobody but the service's own user has any business reading them.
SIDE_FILES = ("-wal", "-shm", "-journal", "-writelock")


def owner_only(path, directory=False):
    """Take group and others' access away from a file (or directory) this user owns.

    Files made before they were created owner-only, or copied into place by an operator,
    are tightened on the next start; what belongs to someone else is left alone.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    if info.st_uid == os.geteuid() and info.st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & (0o700 if directory else 0o600))


def create_private(path):
    """The database file, created owner-only (0600) whatever the process umask, in a
    directory created 0700.

    SQLite itself would create it 0644 less the umask. It creates ``-wal`` and ``-shm``
    with the database's own mode, so they follow; older ones are tightened here.
    """
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, *(f"{path}{suffix}" for suffix in SIDE_FILES)):
        owner_only(name)


def init_db(path, fernet):
    """Apply pending schema migrations and set up the wrapped lookup key; returns the key.

    Safe when several processes start at once on the same file: the first switches it to WAL
    and migrates, the others wait for the write lock and then find nothing left to do.
    """
    from . import migrations

    create_private(path)
    db = connect(path)
    try:
        with _exclusive(db):
            # Switching a new database to WAL needs an exclusive lock; workers starting
            # together would otherwise fail with "database is locked" instead of queueing.
            db.conn.execute("PRAGMA journal_mode = WAL")
            migrations.apply(db)
        with write(db) as conn:
            row = conn.execute("SELECT value FROM app_keys WHERE name = 'lookup'").fetchone()
            if row is None:
                wrapped = vault.wrap_lookup_key(fernet, vault.new_lookup_key())
                conn.execute("INSERT INTO app_keys (name, value) VALUES ('lookup', ?)",
                             (wrapped,))
            else:
                wrapped = row[0]
        return vault.unwrap_lookup_key(fernet, wrapped)
    finally:
        db.conn.close()


def wrapped_lookup_key(path):
    """The lookup key as stored (encrypted under DATA_KEY), or None in a database without one;
    read without migrating or writing anything."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM app_keys WHERE name = 'lookup'").fetchone()
    except sqlite3.OperationalError:  # not one of ours, or no schema yet
        return None
    finally:
        conn.close()
    return row[0] if row else None


@contextlib.contextmanager
def opened(path):
    """A connection for one command or job, closed at the end whatever happens."""
    database = connect(path)
    try:
        yield database
    finally:
        database.conn.close()
