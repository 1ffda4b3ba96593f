"""The audit trail: who did what, from the console, the API, the operator's commands; chained
so that ``audit verify`` finds an entry changed or removed afterwards; never a phone number or
a password; and its retention, which keeps the rest verifiable."""

import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from bot.store import audit, failed_signins, retention
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
    # Failures are counted per name and address; the sign-in from the address ends the count,
    # so each failed series comes before it, with its number of attempts.
    assert [entry[:3] + ({key: entry[3][key] for key in entry[3] if key not in (
                "first", "last")},) for entry in entries(app)] == [
        ("cli", "user_added", OFFICER, {"role": "publisher"}),
        (OFFICER, "signin_failed", OFFICER,
         {"reason": "wrong password", "attempts": 1, "locked": 0}),
        # What was typed as a name that is no account's may be anything: it is not kept.
        ("unknown", "signin_failed", None,
         {"reason": "unknown account", "attempts": 1, "locked": 0}),
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


# --- failed sign-ins: one entry per name and address per window, with the count ---------------

def failed_entries(app):
    return [entry for entry in entries(app) if entry[1] == "signin_failed"]


def after_the_window(app):
    """The daily cleanup, run once the lock window of every failure so far has ended."""
    later = datetime.now(timezone.utc) + timedelta(minutes=app.config["SIGNIN_LOCK_MINUTES"] + 1)
    return retention.cleanup(database(app), app.config, now=later)


def test_a_burst_of_failed_sign_ins_leaves_one_entry_with_the_count(app, officer):
    console = Console(app.test_client())
    statuses = [console.sign_in(password=f"falsch-{n}").status_code for n in range(200)]
    assert statuses == [401] * 5 + [429] * 195
    # While the window is open the attempts are only counted, outside the chain.
    assert failed_entries(app) == []
    assert rows(app, "SELECT attempts, locked FROM signin_failure_windows") == [(200, 195)]
    assert after_the_window(app)["signin_windows_closed"] == 1
    [(actor, _, target, details)] = failed_entries(app)
    assert (actor, target) == (OFFICER, OFFICER)
    assert (details["attempts"], details["locked"], details["reason"]) == (
        200, 195, "wrong password")
    assert details["first"] <= details["last"]
    # Nothing of the address goes into the trail, which is kept for years.
    assert set(details) == {"attempts", "locked", "reason", "first", "last"}
    assert rows(app, "SELECT count(*) FROM signin_failure_windows") == [(0,)]
    assert verify(app).exit_code == 0


def test_guessing_names_that_are_no_accounts_adds_one_entry_per_address(app, officer):
    for number in range(60):
        Console(app.test_client()).sign_in(name=f"rate{number}", password="x",
                                           environ_base={"REMOTE_ADDR": "10.9.0.1"})
    after_the_window(app)
    [(actor, _, target, details)] = failed_entries(app)
    assert (actor, target, details["attempts"], details["locked"]) == ("unknown", None, 60, 55)
    assert "rate" not in json.dumps(rows(app, "SELECT * FROM audit_log"))


def test_guesses_from_ever_new_addresses_share_a_window_beyond_a_bound(app, officer,
                                                                      monkeypatch):
    monkeypatch.setattr(failed_signins, "MAX_OPEN_WINDOWS", 10)
    for number in range(25):
        Console(app.test_client()).sign_in(name=f"rate{number}", password="x",
                                           environ_base={"REMOTE_ADDR": f"2001:db8::{number}"})
    after_the_window(app)
    failed = failed_entries(app)
    assert len(failed) == 11
    assert [details.get("many_addresses") for *_, details in failed] == [None] * 10 + [True]
    assert failed[-1][3]["attempts"] == 15


def test_attempts_while_sign_in_is_locked_add_nothing_to_the_trail(app, officer):
    console = Console(app.test_client())
    for _ in range(5):
        assert console.sign_in(password="falsch").status_code == 401
    before = rows(app, "SELECT count(*) FROM audit_log")
    for _ in range(30):
        assert console.sign_in(password="falsch").status_code == 429
    assert console.sign_in().status_code == 429  # the right password too, while locked
    assert rows(app, "SELECT count(*) FROM audit_log") == before
    assert rows(app, "SELECT attempts, locked FROM signin_failure_windows") == [(36, 31)]


# --- the console page: checks what is new, the full check on demand ---------------------------

@pytest.fixture
def admin(app):
    app.test_cli_runner().invoke(args=["users", "add", "chefin", "--role", "admin",
                                       "--password-stdin"], input=OFFICER_PASSWORD + "\n")
    console = Console(app.test_client())
    assert console.sign_in("chefin", OFFICER_PASSWORD).status_code == 302
    return console


def page_check(console):
    """(entries checked by this load, up to which entry the chain verified, the page)."""
    page = console.client.get("/admin/audit").get_data(as_text=True)
    notice = re.search(r'<p [^>]*id="verification"[^>]*>', page).group(0)
    checked = re.search(r'data-checked-now="(\d+)"', notice)
    verified = re.search(r'data-verified-to="(\d+)"', notice)
    return (int(checked.group(1)) if checked else None,
            int(verified.group(1)) if verified else None, page)


def tamper(app, entry_id):
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'someone' WHERE id = ?", (entry_id,))


def test_a_second_page_load_checks_nothing_already_checked(app, admin):
    with write(database(app)) as conn:
        for _ in range(20_000):
            audit.record(conn, "cli", "backup")
    [(last,)] = rows(app, "SELECT max(id) FROM audit_log")
    # A load checks for a quarter of a second: on a slow machine the first look at a long
    # trail takes a few loads, each going on where the one before stopped.
    loads = []
    while not loads or verified != last:
        assert len(loads) < 100
        checked, verified, page = page_check(admin)
        loads.append(checked)
    assert sum(loads) == last
    assert f"Die Kette ist unversehrt: {last} Einträge geprüft" in page
    assert audit.checkpoint(database(app).conn)["id"] == last
    assert page_check(admin)[:2] == (0, last)
    with write(database(app)) as conn:
        audit.record(conn, "cli", "backup")
    assert page_check(admin)[:2] == (1, last + 1)
    # The page shows a page of entries, not the trail.
    assert len(re.findall(r"<tr data-entry=", page)) == 50


def test_the_page_finds_an_entry_changed_after_its_last_check(app, admin):
    with write(database(app)) as conn:
        for _ in range(10):
            audit.record(conn, "cli", "backup")
    _, checkpoint, _ = page_check(admin)
    with write(database(app)) as conn:
        for _ in range(5):
            audit.record(conn, "cli", "backup")
    tamper(app, checkpoint + 2)
    # The load checks only the five new entries, finds the changed one, and keeps finding it.
    for _ in range(2):
        page = page_check(admin)[2]
        assert f"Achtung: Eintrag Nr. {checkpoint + 2} passt nicht zur Kette" in page
    assert audit.checkpoint(database(app).conn)["id"] == checkpoint + 1
    # The entry the checkpoint names is checked too.
    tamper(app, checkpoint + 1)
    assert f"Eintrag Nr. {checkpoint + 1} passt nicht" in page_check(admin)[2]


def test_the_full_check_finds_an_old_entry_changed_and_the_page_says_so(app, admin):
    with write(database(app)) as conn:
        for _ in range(10):
            audit.record(conn, "cli", "backup")
    page = page_check(admin)[2]
    assert "Die vollständige Prüfung lief noch nicht" in page
    tamper(app, 3)
    # Before the checkpoint: the page's own check does not read that far back; the full check
    # does. It runs on the button (and daily, and with `audit verify`), and the page keeps what
    # it found and when.
    answer = admin.post("/admin/audit/verify", token_page="/admin/audit")
    assert answer.status_code == 302
    page = admin.client.get("/admin/audit").get_data(as_text=True)
    assert "Vollständige Prüfung: Eintrag Nr. 3 passt nicht zur Kette" in page
    # The time on one line.
    assert re.search(r'id="full-check">Vollständige Prüfung zuletzt <span class="nowrap">'
                     r'\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr</span>: [^<]*Eintrag Nr\. 3', page)
    result = verify(app)
    assert result.exit_code == 1 and "entry 3" in result.output
    assert audit.last_full_check(database(app).conn)["bad_id"] == 3


def test_the_page_still_verifies_after_the_retention_cleanup(app, admin):
    with write(database(app)) as conn:
        for _ in range(5):
            audit.record(conn, "cli", "backup")
    page_check(admin)
    [(fifth,)] = rows(app, "SELECT at FROM audit_log WHERE id = 5")
    now = datetime.fromisoformat(fifth.replace("Z", "+00:00")) + timedelta(days=365.25)
    counts = retention.cleanup(database(app), dict(app.config, RETENTION_AUDIT_YEARS=1), now=now)
    assert counts["audit_entries"] == 4
    with write(database(app)) as conn:
        audit.record(conn, "cli", "backup")
    checked, _, page = page_check(admin)
    assert checked == 1 and "Die Kette ist unversehrt: 4 Einträge geprüft" in page


def test_the_page_shows_the_failed_sign_ins_still_being_counted(app, officer, admin):
    guesser = Console(app.test_client())
    for _ in range(3):
        guesser.sign_in(password="falsch", environ_base={"REMOTE_ADDR": "10.9.0.7"})
    page = admin.client.get("/admin/audit").get_data(as_text=True)
    table = re.search(r'<table [^>]*id="open-windows">[\s\S]*?</table>', page).group(0)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells[0] == OFFICER and cells[3:5] == ["3", "0"]


def test_the_worker_runs_the_full_check_once_a_day_and_keeps_its_result(app, officer):
    assert audit.last_full_check(database(app).conn) is None
    assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
    first = audit.last_full_check(database(app).conn)
    assert first["ok"] and first["checked"] == 1
    assert audit.checkpoint(database(app).conn)["id"] == 1
    with write(database(app)) as conn:
        audit.record(conn, "cli", "backup")
    # Not again within CLEANUP_INTERVAL_HOURS: a restart does not repeat it.
    assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
    assert audit.last_full_check(database(app).conn) == first


def test_only_an_admin_may_run_the_full_check(app, console):
    answer = console.post("/admin/audit/verify")
    assert answer.status_code == 403
    assert audit.last_full_check(database(app).conn) is None


# --- the page in plain German ----------------------------------------------------------------

def details_of(page, action):
    """The text of the details cell of the newest entry with ``action``, tags and spaces
    collapsed."""
    row = re.search(rf'<td [^>]*data-action="{action}"[\s\S]*?</tr>', page).group(0)
    cell = re.search(r'data-label="Einzelheiten"[^>]*>([\s\S]*?)</td>', row).group(1)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()


def test_the_page_names_each_detail_in_german_not_in_the_trails_english(app, client, officer,
                                                                        admin, citizen):
    citizen().send("Start")
    client.post("/api/broadcasts", json={"text": "Probealarm", "public": True}, headers=AUTH)
    guesser = Console(app.test_client())
    for _ in range(3):
        guesser.sign_in(password="falsch", environ_base={"REMOTE_ADDR": "10.9.0.8"})
    after_the_window(app)
    with write(database(app)) as conn:
        # A key the page does not know yet (written by a later version, say) still reads.
        audit.record(conn, "cli", "backup", None, {"file": "kopie.db", "bytes": 2_400_000,
                                                   "new_key_later": True,
                                                   "checked_at": "2026-12-06T19:46:00Z",
                                                   "tables": ["users", "audit_log"]})
    page = admin.client.get("/admin/audit").get_data(as_text=True)

    created = details_of(page, "broadcast_created")
    for phrase in ("Status: wartet", "Empfänger: 1", "dringend: nein", "öffentlich: ja",
                   "mit Bild: nein", "Prüfwert des Textes: " + audit.text_hash("Probealarm")[:12]):
        assert phrase in created, (phrase, created)
    failed = details_of(page, "signin_failed")
    for phrase in ("Grund: falsches Passwort", "Versuche: 3", "davon während der Sperre: 0",
                   "erster Versuch: ", " Uhr"):
        assert phrase in failed, (phrase, failed)
    backup = details_of(page, "backup")
    for phrase in ("Datei: kopie.db", "Größe: 2,4 MB", "new key later: ja",
                   "checked at: 06.12.2026, 20:46 Uhr", "tables: users, audit_log"):
        assert phrase in backup, (phrase, backup)
    everything = " ".join(details_of(page, action) for action in (
        "broadcast_created", "signin_failed", "backup"))
    for english in ("True", "False", "wrong password", "text_sha256", "recipients", "None",
                    "['"):
        assert english not in everything, english
    # Each action by its German name; every time kept on one line.
    assert ">Anmeldung fehlgeschlagen</td>" in page and ">Meldung erstellt</td>" in page
    assert re.search(r'<span class="nowrap">\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr</span>', page)
    assert re.search(r'<td data-label="Zeit" class="time">\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr</td>',
                     page)


def test_a_backup_that_removed_older_copies_says_so_in_german(app, admin, tmp_path):
    from bot.store.backup import copy_name

    folder = tmp_path / "backups"
    folder.mkdir()
    for days in (20, 30, 40):
        (folder / copy_name(datetime.now(timezone.utc) - timedelta(days=days))).write_bytes(b"x")
    result = app.test_cli_runner().invoke(args=["backup", str(folder)])
    assert result.exit_code == 0, result.output
    backup = details_of(admin.client.get("/admin/audit").get_data(as_text=True), "backup")
    assert "ältere Kopien gelöscht: 3" in backup and "removed" not in backup, backup


def test_every_detail_of_a_broadcast_has_a_german_label():
    """What the trail keeps of a broadcast, with every optional field set: each key has a
    German name on the page (an unnamed key would only show in a readable fallback)."""
    from bot.domain import announcements
    from bot.web import audit_details

    kept = announcements.summary(
        {"text": "x", "urgent": True, "media_url": "https://example.org/a.jpg", "public": False,
         "send_at": "2026-12-24T17:00:00Z", "expires_at": "2026-12-25T17:00:00Z",
         "topics": ["schule"], "translations": {"en": "x"}},
        status="queued", recipients=3, sent=2, failed=1, requested_by="paul")
    assert set(kept) - set(audit_details.KNOWN) == set()
