"""Schema migrations: applied once, in order, by every process that starts; and a database of
the release before migrations existed upgrades with everything in it intact."""

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from bot import create_app
from bot.delivery import worker
from bot.domain import costs
from bot.store import broadcasts, migrations
from bot.store.db import connect, init_db, to_iso, write
from bot.vault import new_key, parse_data_key
from tests.conftest import ADMIN_TOKEN, ROOT, Console, rows

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "release-2026-11"
OLD_NUMBERS = [f"+4915100000{i:03d}" for i in range(1, 6)]  # the sixth sent Stop
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def applied(path):
    return [name for (name,) in sqlite3.connect(path).execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = 'infokanal' ORDER BY id")]


def schema(path):
    """Every table's columns and every index, as SQLite reports them."""
    conn = sqlite3.connect(path)
    tables = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != '_sqlite_migrations' ORDER BY name")]
    return {
        "columns": {t: [row[1:] for row in conn.execute(f"PRAGMA table_info({t})")]
                    for t in tables},
        "indexes": sorted(conn.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' "
            "AND sql IS NOT NULL").fetchall()),
    }


def test_every_section_of_schema_sql_is_a_migration_in_file_order():
    registered = [m.name for m in migrations.migrations._migrations]
    sections = list(migrations.schema_sections())
    assert [name for name in registered if name in sections] == sections
    assert registered == sorted(registered), "names sort in the order they are applied"
    assert sections[0] == "0001_initial"


def test_a_new_database_gets_every_migration_once(tmp_path):
    path = tmp_path / "new.db"
    fernet = parse_data_key(new_key())
    init_db(path, fernet)
    every = [m.name for m in migrations.migrations._migrations]
    assert applied(path) == every
    init_db(path, fernet)  # every start does this: nothing is applied twice
    assert applied(path) == every
    assert migrations.pending(connect(path)) == []


def test_workers_starting_together_migrate_once_between_them(tmp_path):
    path = tmp_path / "infokanal.db"
    shutil.copy(FIXTURE / "infokanal.sqlite", path)
    key = (FIXTURE / "data_key.txt").read_text().strip()
    script = ("import sys; from bot.store.db import init_db; from bot.vault import "
              "parse_data_key; init_db(sys.argv[1], parse_data_key(sys.argv[2]))")
    starts = [subprocess.Popen([sys.executable, "-c", script, str(path), key], cwd=ROOT,
                               stderr=subprocess.PIPE, text=True) for _ in range(6)]
    for start in starts:
        assert start.wait(60) == 0, start.stderr.read()
    assert applied(path) == [m.name for m in migrations.migrations._migrations]


@pytest.fixture
def upgraded(tmp_path, config):
    """The release's database, copied, opened by today's code."""
    path = tmp_path / "infokanal.db"
    shutil.copy(FIXTURE / "infokanal.sqlite", path)
    before = {table: rows_of(path, table) for table in ("subscribers", "consent_events")}
    app = create_app(dict(config, DATABASE_PATH=str(path),
                          DATA_KEY=(FIXTURE / "data_key.txt").read_text().strip()))
    return app, before


# The columns the release had; later migrations add others.
RELEASE_COLUMNS = {"subscribers": "id, phone_hash, phone_enc, subscribed_at",
                   "consent_events": "id, phone_hash, action, keyword, message_sid, at",
                   "broadcasts": "id, text, media_url, status, urgent, created_at, send_at, "
                                 "expires_at, started_at, finished_at, recipients, pause_reason, "
                                 "resume_at, retries_unknown, created_by"}


def rows_of(path, table):
    return sqlite3.connect(path).execute(
        f"SELECT {RELEASE_COLUMNS[table]} FROM {table} ORDER BY id").fetchall()


def test_an_upgraded_database_keeps_its_subscribers_consent_and_broadcasts(upgraded, tmp_path):
    app, before = upgraded
    path = app.config["DATABASE_PATH"]
    assert rows_of(path, "subscribers") == before["subscribers"] and len(before["subscribers"]) == 5
    assert rows_of(path, "consent_events") == before["consent_events"]
    assert len(before["consent_events"]) == 7
    # They chose nothing then: everything, in the main language.
    assert rows(app, "SELECT DISTINCT all_topics, language FROM subscribers") == [(1, None)]
    vault = app.extensions["infokanal"].vault
    assert sorted(vault.decrypt(enc) for (enc,) in rows(app, "SELECT phone_enc FROM subscribers")) \
        == OLD_NUMBERS
    conn = connect(path).conn
    old, recent, scheduled = (broadcasts.get(conn, n) for n in (1, 2, 3))
    assert old["counts"] == {"queued": 0, "sent": 1, "delivered": 2, "read": 1, "failed": 1,
                             "skipped": 0}
    assert old["errors"] == {"63016": 1} and old["failures"] == {("template_needed", "63016"): 1}
    assert recent["counts"] == {"queued": 0, "sent": 1, "delivered": 1, "read": 2, "failed": 1,
                                "skipped": 0}
    assert recent["errors"] == {"63003": 1} and recent["urgent"] is True
    assert (scheduled["status"], scheduled["recipients"]) == ("scheduled", 5)
    # The shared "final:" rows became the deliveries' own receipts.
    assert rows(app, "SELECT count(*) FROM message_status WHERE sid LIKE 'final:%'") == [(0,)]
    assert rows(app, "SELECT count(*) FROM deliveries WHERE sid LIKE 'final:%'") == [(0,)]
    assert rows(app, "SELECT receipt, count(*) FROM deliveries WHERE broadcast_id = 1 "
                     "GROUP BY 1 ORDER BY 1") == [("delivered", 2), ("failed", 1), ("read", 1),
                                                  ("sent", 1)]
    # Its schema is the one a new database gets.
    fresh = tmp_path / "fresh.db"
    init_db(fresh, parse_data_key(new_key()))
    assert schema(path) == schema(fresh)


def test_an_old_account_still_signs_in(upgraded):
    app, _ = upgraded
    console = Console(app.test_client())
    assert console.sign_in("presse", "ein-langes-Passwort-1").status_code == 302
    # It could do everything before roles existed, so it still can.
    assert rows(app, "SELECT role FROM users WHERE name = 'presse'") == [("admin",)]
    assert console.client.get("/admin/audit").status_code == 200


def test_a_new_broadcast_after_the_upgrade_reaches_exactly_the_old_subscribers(upgraded,
                                                                              twilio_api):
    app, _ = upgraded
    client = app.test_client()
    answer = client.post("/api/broadcasts", json={"text": "Nach dem Update"}, headers=AUTH).json
    assert answer["recipients"] == 5

    async def send():
        # Not --until-idle: the old scheduled broadcast keeps a sender busy until 2027.
        sender = worker.build(dict(app.config), app.extensions["infokanal"].vault, demo=False)
        running = asyncio.create_task(sender.run())
        try:
            for _ in range(600):
                if broadcasts.get(sender.conn, answer["id"])["status"] == "done":
                    break
                await asyncio.sleep(0.05)
        finally:
            sender.stop()
            await asyncio.wait_for(running, 30)
            await sender.transport.close()
            sender.database.conn.close()

    asyncio.run(send())
    new = [m for m in twilio_api.messages if m.get("Body") == "Nach dem Update"]
    assert sorted(m["To"] for m in new) == [f"whatsapp:{n}" for n in OLD_NUMBERS]
    detail = client.get(f"/api/broadcasts/{answer['id']}", headers=AUTH).json
    assert detail["status"] == "done" and detail["counts"]["sent"] == 5


def test_an_upgraded_database_takes_drafts_and_its_deliveries_still_belong_to_broadcasts(
        tmp_path, config):
    path = tmp_path / "infokanal.db"
    shutil.copy(FIXTURE / "infokanal.sqlite", path)
    per_broadcast = "SELECT broadcast_id, state, count(*) FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2"
    before = sqlite3.connect(path).execute(per_broadcast).fetchall()
    create_app(dict(config, DATABASE_PATH=str(path),
                    DATA_KEY=(FIXTURE / "data_key.txt").read_text().strip()))
    database = connect(path)
    conn = database.conn
    assert conn.execute(per_broadcast).fetchall() == before and before
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    with write(database) as tx:
        draft_id, status, _ = broadcasts.create(tx, "Entwurf", draft=True)
    assert status == "draft"
    # The deliveries' foreign key still guards the new table.
    with pytest.raises(sqlite3.IntegrityError):
        with write(database) as tx:
            tx.execute("DELETE FROM broadcasts WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError):
        with write(database) as tx:
            tx.execute("INSERT INTO broadcasts (text, status, created_at) VALUES ('x', 'lost', 'now')")


def test_a_rebuild_that_was_not_recorded_is_only_recorded_at_the_next_start(tmp_path):
    """The process died between the rebuild's commit and the record of it."""
    path = tmp_path / "infokanal.db"
    fernet = parse_data_key(new_key())
    init_db(path, fernet)
    with write(connect(path)) as tx:
        broadcasts.create(tx, "Vorher")
        tx.execute("DELETE FROM _sqlite_migrations WHERE name = '0010_broadcast_drafts'")
    init_db(path, fernet)
    assert applied(path).count("0010_broadcast_drafts") == 1
    assert rows_of(path, "broadcasts")[0][1] == "Vorher"


def test_what_was_delivered_before_the_upgrade_counts_in_its_month(tmp_path, config):
    """A county that upgrades in the middle of a month has spent what it spent: the deliveries
    the platform reported delivered or read before the month's counts existed are counted, by
    the hour of their receipt (of their sending where the receipt has no time)."""
    path = tmp_path / "old.db"
    db = connect(path)
    migrations.migrations.apply(db, stop_before="0024_message_usage")
    receipt = datetime(2026, 11, 15, 9, 30, tzinfo=timezone.utc)
    sent = datetime(2026, 11, 15, 10, 5, tzinfo=timezone.utc).timestamp()
    db.conn.executemany(
        "INSERT INTO broadcasts (id, text, status, created_at) VALUES (?, 'Alt', 'done', ?)",
        [(1, "2026-11-15T09:00:00.000000Z"), (2, "2026-10-31T09:00:00.000000Z")])
    # As the old code wrote them: receipts as ISO text, sending times in Unix time.
    db.conn.executemany(
        "INSERT INTO deliveries (broadcast_id, subscriber_id, state, sid, sent_at, receipt, "
        "receipt_at) VALUES (?, NULL, ?, ?, ?, ?, ?)",
        [(1, "sent", "SM1", sent, "delivered", to_iso(receipt)),
         (1, "sent", "SM2", sent, "read", to_iso(receipt)),
         (1, "sent", "SM3", sent, "read", None),  # no time of its own: the sending's
         (1, "sent", "SM4", sent, "sent", to_iso(receipt)),  # accepted, not delivered: free
         (1, "sent", "SM5", sent, "failed", to_iso(receipt)),
         (1, "failed", None, None, None, None),
         (1, "queued", None, None, None, None),
         (2, "sent", "SM6", sent, "delivered", "2026-10-31T22:10:00.000000Z"),
         (2, "sent", "SM7", sent, "read", receipt.timestamp())])  # a receipt in Unix time
    db.conn.commit()
    migrations.migrations.apply(db)
    assert sorted(db.conn.execute("SELECT hour, broadcast_id, category, n FROM message_usage")) \
        == [("2026-10-31T22", 2, "", 1), ("2026-11-15T09", 1, "", 2),
            ("2026-11-15T09", 2, "", 1), ("2026-11-15T10", 1, "", 1)]
    settings = create_app(dict(config, PRICE_MARKETING="0.1", PLATFORM_FEE="0.005")).config
    # 22:10 UTC on 31 October is 23:10 in Berlin: still October there.
    november = datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert costs.month_spent(db.conn, settings, now=november) == 4 * Decimal("0.105")
    assert costs.month_spent(db.conn, settings, now=datetime(2026, 10, 20, tzinfo=timezone.utc)) \
        == Decimal("0.105")


def test_the_upgrade_unlinks_votes_of_those_who_left_and_keeps_only_days(tmp_path):
    """Votes cast before leaving unlinked itself lose their hash; reactions and votes keep only
    their day, which finds no message id in the deduplication log."""
    path = tmp_path / "old.db"
    db = connect(path)
    migrations.migrations.apply(db, stop_before="0031_privacy_links")
    db.conn.execute("INSERT INTO subscribers (id, phone_hash, phone_enc, subscribed_at) "
                    "VALUES (1, 'stayed', 'x', '2026-12-01T08:00:00.000000Z')")
    db.conn.execute("INSERT INTO broadcasts (id, text, status, created_at) "
                    "VALUES (1, 'Frage', 'done', '2026-12-01T09:00:00.000000Z')")
    db.conn.execute("INSERT INTO polls (broadcast_id, answers) VALUES (1, '[\"Ja\", \"Nein\"]')")
    db.conn.executemany(
        "INSERT INTO poll_votes (broadcast_id, voter, answer, voted_at, closed_told) "
        "VALUES (1, ?, ?, ?, ?)",
        [("stayed", 0, "2026-12-01T09:10:11.123456Z", 0),
         ("left", 1, "2026-12-01T09:12:13.654321Z", 0),
         ("left-told", None, None, 1)])
    db.conn.execute("INSERT INTO reactions (broadcast_id, phone_hash, emoji, reacted_at) "
                    "VALUES (1, NULL, '👍', '2026-12-01T09:11:12.345678Z')")
    db.conn.commit()
    migrations.migrations.apply(db)
    assert db.conn.execute("SELECT voter, answer, voted_at FROM poll_votes ORDER BY answer")\
        .fetchall() == [("stayed", 0, "2026-12-01"), (None, 1, "2026-12-01")]
    assert db.conn.execute("SELECT reacted_at FROM reactions").fetchall() == [("2026-12-01",)]
