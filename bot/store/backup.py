"""A consistent copy of the database while the service runs (``flask --app wsgi backup PATH``).

SQLite's online backup API copies a snapshot that is consistent even while webhooks and the
sender write (in WAL mode they are not blocked meanwhile). The copy is written to a temporary
file next to PATH and renamed into place only when it is complete and checked, so PATH never
holds half a backup. A backup holds phone numbers only encrypted: it needs the DATA_KEY of its
time to be of any use, so keep the key apart from the backups.
"""

import os
import sqlite3
import tempfile
from pathlib import Path


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
