"""backup(): a complete, standalone copy, written atomically, never over an existing file."""

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from bot import create_app
from bot.config import ConfigError
from bot.store.backup import BackupError, backup, backup_into, copy_name, taken_at
from tests.conftest import rows


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


# --- into a folder, with retention -------------------------------------------------------------

DAY = timedelta(days=1)


def own_copy(folder, age, content=b"old copy"):
    path = folder / copy_name(datetime.now(timezone.utc) - age)
    path.write_bytes(content)
    return path


def test_backup_into_a_folder_removes_only_its_own_copies_older_than_backup_keep_days(
        config, tmp_path):
    app = create_app(dict(config, BACKUP_KEEP_DAYS="14"))
    folder = tmp_path / "backups"
    folder.mkdir()
    outside = tmp_path / "elsewhere.db"
    outside.write_bytes(b"not in the folder")
    expired = [own_copy(folder, 15 * DAY), own_copy(folder, 400 * DAY)]
    kept = [own_copy(folder, 13 * DAY), own_copy(folder, DAY)]
    # Old, and named like a copy at first sight, but not by this command: all stay.
    others = [folder / name for name in (
        "infokanal-2020-01-01.db", "mine.db", "infokanal-2020-01-01T000000Z.db.gz",
        ".infokanal-2020-01-01T000000Z.db.x1y2.tmp", "infokanal-2020-13-01T000000Z.db",
        "Infokanal-2020-01-01T000000Z.db", "infokanal-2020-01-01T000000Z.db~")]
    for path in others:
        path.write_bytes(b"someone else's")
        os.utime(path, (0, 0))
    (folder / "infokanal-2020-01-02T000000Z.db").mkdir()
    (folder / "infokanal-2020-01-03T000000Z.db").symlink_to(outside)

    result = app.test_cli_runner().invoke(args=["backup", str(folder)])

    assert result.exit_code == 0, result.output
    assert "Removed 2 older copies" in result.output and "BACKUP_KEEP_DAYS" in result.output
    [written] = [path for path in folder.iterdir()
                 if taken_at(path.name) and path not in kept and path.is_file()
                 and not path.is_symlink()]
    assert datetime.now(timezone.utc) - taken_at(written.name) < timedelta(minutes=5)
    assert count(written) == 0 and oct(os.stat(written).st_mode & 0o777) == "0o600"
    assert not any(path.exists() for path in expired)
    assert all(path.read_bytes() == b"old copy" for path in kept)
    assert all(path.read_bytes() == b"someone else's" for path in others)
    assert (folder / "infokanal-2020-01-02T000000Z.db").is_dir()
    assert (folder / "infokanal-2020-01-03T000000Z.db").is_symlink()
    assert outside.read_bytes() == b"not in the folder"
    [entry] = rows(app, "SELECT details FROM audit_log WHERE action = 'backup'")
    assert json.loads(entry[0])["removed"] == 2


def test_backup_keep_days_is_honoured_and_must_be_positive(config, tmp_path):
    recent = own_copy(tmp_path, 3 * DAY)
    week = own_copy(tmp_path, 8 * DAY)
    app = create_app(dict(config, BACKUP_KEEP_DAYS="7"))
    assert app.test_cli_runner().invoke(args=["backup", str(tmp_path)]).exit_code == 0
    assert recent.exists() and not week.exists()
    for value in ("0", "-1"):
        with pytest.raises(ConfigError, match="BACKUP_KEEP_DAYS"):
            create_app(dict(config, BACKUP_KEEP_DAYS=value))


def test_a_failed_backup_removes_no_copy(app, tmp_path):
    now = datetime(2026, 12, 6, 3, 15, tzinfo=timezone.utc)
    old = tmp_path / copy_name(now - 30 * DAY)
    old.write_bytes(b"old copy")
    (tmp_path / copy_name(now)).write_bytes(b"same second")
    with pytest.raises(BackupError):
        backup_into(app.config["DATABASE_PATH"], tmp_path, 14, now=now)
    assert old.read_bytes() == b"old copy"


def test_copy_names_are_read_back_only_in_their_own_form():
    moment = datetime(2026, 12, 6, 3, 15, 9, tzinfo=timezone.utc)
    assert copy_name(moment) == "infokanal-2026-12-06T031509Z.db"
    assert taken_at(copy_name(moment)) == moment
    for name in ("infokanal-2026-12-06.db", "infokanal-2026-12-06T031509Z.db.tmp",
                 "x-infokanal-2026-12-06T031509Z.db", "infokanal-2026-02-30T000000Z.db"):
        assert taken_at(name) is None, name


def test_backup_keep_days_is_documented_for_operators():
    from tests import documentation
    from tests.conftest import ROOT

    assert "| `BACKUP_KEEP_DAYS` | `14` |" in documentation.page(documentation.CONFIGURATION)
    assert "# BACKUP_KEEP_DAYS=14" in (ROOT / ".env.example").read_text(encoding="utf-8")
    backup_section = documentation.section(documentation.page(documentation.BACKUPS),
                                           "## Backup", "## Restore")
    assert "infokanal-backup.timer" in backup_section and "BACKUP_KEEP_DAYS" in backup_section


def test_a_copy_that_cannot_be_removed_is_reported_and_the_rest_still_go(app, tmp_path):
    chattr = shutil.which("chattr")
    if os.geteuid() != 0 or chattr is None:
        pytest.skip("needs root and chattr to make a file that cannot be removed")
    stuck, gone = own_copy(tmp_path, 20 * DAY), own_copy(tmp_path, 30 * DAY)
    if subprocess.run([chattr, "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable files")
    try:
        result = app.test_cli_runner().invoke(args=["backup", str(tmp_path)])
    finally:
        subprocess.run([chattr, "-i", str(stuck)], check=True)
    assert result.exit_code == 1
    assert "Backup written to" in result.stdout and "Removed 1 older copies" in result.stdout
    assert "The backup was written, but these older copies could not be removed: " \
           f"{stuck.name} (Operation not permitted)" in result.output
    assert stuck.exists() and not gone.exists()
    assert len([path for path in tmp_path.iterdir() if taken_at(path.name)]) == 2
