"""A consistent copy of the database while the service runs (``flask --app wsgi backup PATH``).

SQLite's online backup API copies a snapshot that is consistent even while webhooks and the
sender write (in WAL mode they are not blocked meanwhile). The copy is written to a temporary
file next to PATH and renamed into place only when it is complete and checked, so PATH never
holds half a backup. A backup holds phone numbers only encrypted: it needs the DATA_KEY of its
time to be of any use, so keep the key apart from the backups.

Given a folder instead of a file name, the copy is named by the moment it was taken
(``infokanal-2026-12-06T031500Z.db``, UTC), and copies of that name older than the retention
period are removed afterwards: only names of exactly that form, so that nothing else in the
folder (a copy the operator named, another program's files) is ever touched.
"""

import os
import re
import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

COPY_PREFIX = "infokanal-"
_COPY_TIME = "%Y-%m-%dT%H%M%SZ"
_COPY_NAME = re.compile(r"infokanal-(\d{4}-\d{2}-\d{2}T\d{6}Z)\.db")


class BackupError(Exception):
    """The backup cannot be written; the message says why."""


def backup(src_path, dest_path, force=False):
    """Copy the database at ``src_path`` to ``dest_path``; returns the destination Path."""
    src_path, dest_path = Path(src_path), Path(dest_path)
    if not src_path.is_file():
        raise BackupError(f"there is no database at {src_path}")
    if dest_path.is_dir():
        raise BackupError(f"{dest_path} is a directory; give a file name")
    if not dest_path.parent.is_dir():
        raise BackupError(f"the directory {dest_path.parent} does not exist")
    if dest_path.exists() and not force:
        raise BackupError(f"{dest_path} exists; use --force to replace it")
    if dest_path.resolve() == src_path.resolve():
        raise BackupError("the backup cannot replace the database itself")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest_path.name}.", suffix=".tmp",
                                    dir=dest_path.parent)
    os.close(fd)
    try:
        source = sqlite3.connect(src_path, timeout=10)
        target = sqlite3.connect(tmp_name)
        try:
            # All pages in one step: one snapshot, never restarted by concurrent writes.
            source.backup(target)
            # A backup file stands alone: no -wal or -shm beside it to lose when copying.
            target.execute("PRAGMA journal_mode = DELETE")
            problem = target.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            target.close()
            source.close()
        if problem != "ok":
            raise BackupError(f"the copy failed its integrity check: {problem}")
        with open(tmp_name, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, dest_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return dest_path


def copy_name(moment):
    """The file name a copy taken at ``moment`` (aware datetime) gets in a backup folder."""
    return f"{COPY_PREFIX}{moment.astimezone(timezone.utc).strftime(_COPY_TIME)}.db"


def taken_at(name):
    """When a copy named by ``copy_name`` was taken (UTC), or None for any other name."""
    match = _COPY_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), _COPY_TIME).replace(tzinfo=timezone.utc)
    except ValueError:  # the right shape, but no real moment (month 13): not ours
        return None


def backup_into(src_path, folder, keep_days, now=None):
    """Write a copy named by the moment into ``folder``, then remove this command's copies
    there taken more than ``keep_days`` before it.

    Returns (the new copy, the removed Paths, [(Path, OSError)] of those that could not be
    removed). A copy that fails raises BackupError and removes nothing.
    """
    folder = Path(folder)
    now = now or datetime.now(timezone.utc)
    written = backup(src_path, folder / copy_name(now))
    removed, failed = prune(folder, keep_days, now, keep=written)
    return written, removed, failed


def prune(folder, keep_days, now, keep=None):
    """Remove the copies in ``folder`` that ``backup_into`` wrote more than ``keep_days``
    before ``now``: regular files of its own name form only, never ``keep``. One that cannot be
    removed is skipped, not the rest; returns (removed, [(Path, OSError)])."""
    cutoff = now - timedelta(days=keep_days)
    removed, failed = [], []
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        moment = taken_at(entry.name)
        if moment is None or moment >= cutoff or not entry.is_file(follow_symlinks=False):
            continue
        path = Path(entry.path)
        if keep is not None and path == Path(keep):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # gone meanwhile (another run): what was wanted
        except OSError as exc:
            failed.append((path, exc))
            continue
        removed.append(path)
    return removed, failed
