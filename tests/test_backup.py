"""backup(): a complete, standalone copy, written atomically, never over an existing file."""

import os
import sqlite3

import pytest

from bot.store.backup import BackupError, backup


def count(path, table="subscribers"):
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_backup_copies_everything_committed_including_the_wal(app, citizen, tmp_path):
    for _ in range(5):
        citizen().send("Start")
    dest = backup(app.config["DATABASE_PATH"], tmp_path / "copy.db")
    assert count(dest) == 5 and count(dest, "consent_events") == 5
    assert not (tmp_path / "copy.db-wal").exists()
    with sqlite3.connect(dest) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert oct(os.stat(dest).st_mode & 0o777) == "0o600"


def test_backup_refuses_to_overwrite_unless_forced(app, citizen, tmp_path):
    dest = tmp_path / "copy.db"
    dest.write_text("keep me")
    with pytest.raises(BackupError, match="--force"):
        backup(app.config["DATABASE_PATH"], dest)
    assert dest.read_text() == "keep me"
    citizen().send("Start")
    backup(app.config["DATABASE_PATH"], dest, force=True)
    assert count(dest) == 1


@pytest.mark.parametrize("where", ["missing-dir/copy.db", "."])
def test_backup_to_a_bad_place_writes_nothing(app, tmp_path, where):
    before = set(tmp_path.rglob("*"))
    with pytest.raises(BackupError):
        backup(app.config["DATABASE_PATH"], tmp_path / where)
    assert set(tmp_path.rglob("*")) == before


def test_backup_command_answers_plainly(app, tmp_path):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["backup", str(tmp_path / "b.db")])
    assert ok.exit_code == 0 and "DATA_KEY" in ok.output
    again = runner.invoke(args=["backup", str(tmp_path / "b.db")])
    assert again.exit_code != 0 and "No backup written" in again.output
