"""The audit trail: who did what, from the console, the API, the operator's commands; chained
so that ``audit verify`` finds an entry changed or removed afterwards; never a phone number or
a password; and its retention, which keeps the rest verifiable."""

import json
import re
import sqlite3
from datetime import datetime, timedelta

import pytest

from bot.store import audit, retention
from bot.store.db import write
from tests.conftest import (ADMIN_TOKEN, OFFICER, OFFICER_PASSWORD, Console, database, rows,
                            submit_broadcast)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def entries(app):
    return [(actor, action, target, json.loads(details)) for actor, action, target, details in
            rows(app, "SELECT actor, action, target, details FROM audit_log ORDER BY id")]


def verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_sign_in_failed_sign_in_and_sign_out_are_recorded_by_account_name(app, officer):
    console = Console(app.test_client())
    assert console.sign_in(password="falsch-falsch-falsch").status_code == 401
    assert console.sign_in(name="ein-Passwort-im-Namensfeld").status_code == 401
    assert console.sign_in().status_code == 302
    console.post("/admin/logout", token_page="/admin")
    assert entries(app) == [
        ("cli", "user_added", OFFICER, {"role": "publisher"}),
        (OFFICER, "signin_failed", OFFICER, {"reason": "wrong password"}),
        # What was typed as a name that is no account's may be anything: it is not kept.
        ("unknown", "signin_failed", None, {"reason": "unknown account"}),
        (OFFICER, "signin", OFFICER, {}),
        (OFFICER, "signout", OFFICER, {})]
    trail = json.dumps(rows(app, "SELECT * FROM audit_log"))
    assert "falsch" not in trail and OFFICER_PASSWORD not in trail and "Namensfeld" not in trail


def test_what_the_api_does_is_recorded_as_api_with_the_texts_hash_not_the_text(app, client,
                                                                              citizen):
    citizen().send("Start")
    created = client.post("/api/broadcasts", json={"text": "Ruf 0151 2345678 an"},
                          headers=AUTH).json
    client.post(f"/api/broadcasts/{created['id']}/cancel", headers=AUTH)
    [(_, action, target, details), cancelled] = entries(app)
    assert (action, target) == ("broadcast_created", f"broadcast:{created['id']}")
    assert details["text_sha256"] == audit.text_hash("Ruf 0151 2345678 an")
    assert details["status"] == "queued" and details["recipients"] == 1
    assert cancelled[:3] == ("api", "broadcast_cancelled", f"broadcast:{created['id']}")
    assert "2345678" not in json.dumps(rows(app, "SELECT * FROM audit_log"))


def test_operator_commands_are_recorded_as_cli_and_never_name_a_number(app, citizen, tmp_path,
                                                                        config):
    runner = app.test_cli_runner()
    erika = citizen()
    erika.send("Start")
    with app.app_context():
        submit_broadcast({"text": "Probealarm"}, created_by="cli")
    assert runner.invoke(args=["privacy", "export", erika.number]).exit_code == 0
    assert runner.invoke(args=["privacy", "erase", erika.number]).exit_code == 0
    assert runner.invoke(args=["backup", str(tmp_path / "copy.db")]).exit_code == 0
    assert runner.invoke(args=["users", "add", "bea", "--password-stdin"],
                         input="ein-langes-Passwort-2\n").exit_code == 0
    assert runner.invoke(args=["users", "role", "bea", "editor"]).exit_code == 0
    assert runner.invoke(args=["users", "password", "bea", "--password-stdin"],
                         input="ein-neues-Passwort-3\n").exit_code == 0
    assert runner.invoke(args=["users", "remove", "bea"]).exit_code == 0
    from bot import create_app
    from bot.vault import new_key

    rotated = create_app(dict(config, DATA_KEY=f"{new_key()},{config['DATA_KEY']}"))
    assert rotated.test_cli_runner().invoke(args=["keys", "rotate"]).exit_code == 0
    assert [(actor, action, target) for actor, action, target, _ in entries(app)] == [
        ("cli", "broadcast_created", "broadcast:1"),
        ("cli", "privacy_export", None), ("cli", "privacy_erase", None),
        ("cli", "backup", None), ("cli", "user_added", "bea"),
        ("cli", "user_role_changed", "bea"), ("cli", "user_password_changed", "bea"),
        ("cli", "user_removed", "bea"), ("cli", "keys_rotated", None)]
    trail = json.dumps(rows(app, "SELECT * FROM audit_log"))
    vault = app.extensions["infokanal"].vault
    for secret in (erika.number, erika.number[3:], erika.number[-7:], vault.hash(erika.number)):
        assert secret not in trail
    assert verify(app).exit_code == 0


def test_verify_passes_an_intact_trail_and_names_the_first_entry_changed_afterwards(app,
                                                                                     officer):
    for _ in range(3):
        Console(app.test_client()).sign_in()
    good = verify(app)
    assert good.exit_code == 0 and "4 entries verified" in good.output
    # The application cannot change an entry: the database refuses.
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        with write(database(app)) as conn:
            conn.execute("UPDATE audit_log SET actor = 'someone' WHERE id = 2")
    # Someone with the database file can (without the trigger); the chain shows it.
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'someone' WHERE id = 3")
    bad = verify(app)
    assert bad.exit_code == 1 and "entry 3" in bad.output and "changed" in bad.output


def test_verify_finds_an_entry_removed_from_the_middle_or_the_start(app, officer):
    for _ in range(3):
        Console(app.test_client()).sign_in()
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE id = 2")
    assert "entry 3" in verify(app).output
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        conn.execute("DELETE FROM audit_log WHERE id <= 3")
    result = verify(app)
    assert result.exit_code == 1 and "entry 4" in result.output and "anchor" in result.output


def test_export_prints_json_lines_oldest_first_from_a_given_day(app, officer):
    Console(app.test_client()).sign_in()
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        # As if the account had been made long ago (the chain is not checked here).
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET at = '2020-01-01T08:00:00.000000Z' WHERE id = 1")
    every = app.test_cli_runner().invoke(args=["audit", "export"])
    lines = [json.loads(line) for line in every.output.splitlines()]
    assert [line["action"] for line in lines] == ["user_added", "signin"]
    assert set(lines[0]) >= {"at", "actor", "action", "target", "details"}
    recent = app.test_cli_runner().invoke(args=["audit", "export", "--since", "2021-01-01"])
    assert [json.loads(line)["action"] for line in recent.output.splitlines()] == ["signin"]
    bad = app.test_cli_runner().invoke(args=["audit", "export", "--since", "gestern"])
    assert bad.exit_code != 0 and "ISO-8601" in bad.output


def test_retention_removes_old_entries_and_what_is_kept_still_verifies(app, officer):
    for _ in range(4):
        Console(app.test_client()).sign_in()
    [(fourth,)] = rows(app, "SELECT at FROM audit_log WHERE id = 4")
    # A year after the fourth entry, with a year's retention: the three before it are too old.
    now = datetime.fromisoformat(fourth.replace("Z", "+00:00")) + timedelta(days=365.25)
    counts = retention.cleanup(database(app), dict(app.config, RETENTION_AUDIT_YEARS=1),
                               now=now)
    assert counts["audit_entries"] == 3
    assert [entry_id for (entry_id,) in rows(app, "SELECT id FROM audit_log")] == [4, 5]
    with write(database(app)) as conn:
        audit.record(conn, "cli", "backup")
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "The 3 oldest entries" in result.output and "3 entries verified" in result.output
    # The anchor is the removed entry's hash, not a blank: removing more by hand still shows.
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE id = 4")
    assert verify(app).exit_code == 1


def test_the_console_page_shows_the_trail_newest_first_a_page_at_a_time(config):
    from bot import create_app

    app = create_app(config)
    app.test_cli_runner().invoke(args=["users", "add", "chefin", "--role", "admin",
                                       "--password-stdin"], input=OFFICER_PASSWORD + "\n")
    with write(database(app)) as conn:
        for _ in range(55):
            audit.record(conn, "cli", "backup")
    console = Console(app.test_client())
    console.sign_in("chefin", OFFICER_PASSWORD)
    first = console.client.get("/admin/audit").get_data(as_text=True)
    shown = [int(n) for n in re.findall(r'<tr data-entry="(\d+)">', first)]
    assert shown == list(range(57, 7, -1)) and "Die Kette ist unversehrt: 57" in first
    older = re.search(r'href="(/admin/audit\?vor=\d+)"', first).group(1)
    rest = console.client.get(older).get_data(as_text=True)
    assert [int(n) for n in re.findall(r'<tr data-entry="(\d+)">', rest)] == list(range(7, 0, -1))
