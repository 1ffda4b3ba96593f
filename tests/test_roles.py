"""Roles: what an editor, a publisher and an admin may do in the console, checked on the server
for every action (a page hiding a button is not the check), and the users command's roles."""

import re
import shutil
import sqlite3

import pytest

from bot import create_app
from bot.store import broadcasts
from bot.store.db import write
from bot.vault import new_key
from tests.conftest import Console, csrf_from, database, rows

PASSWORD = "ein-langes-Passwort-1"
ROLES = ("editor", "publisher", "admin")
DATA_KEY = new_key()


@pytest.fixture(scope="module")
def accounts_database(tmp_path_factory):
    """A database with one account per role (and a second publisher), made with the CLI once
    for the module: hashing passwords is what costs time here."""
    path = tmp_path_factory.mktemp("roles") / "template.db"
    app = create_app({"DATABASE_PATH": str(path), "DATA_KEY": DATA_KEY, "ADMIN_TOKEN": "t" * 40})
    runner = app.test_cli_runner()
    for name, role in (("erika", "editor"), ("paul", "publisher"), ("petra", "publisher"),
                       ("anna", "admin")):
        result = runner.invoke(args=["users", "add", name, "--role", role, "--password-stdin"],
                               input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def office(config, accounts_database):
    """The app of a test, on a copy of that database."""
    shutil.copy(accounts_database, config["DATABASE_PATH"])
    return create_app(dict(config, DATA_KEY=DATA_KEY,
                           TEST_RECIPIENTS="whatsapp:+4915199990001"))


NAMES = {"editor": "erika", "publisher": "paul", "admin": "anna"}


def signed_in(app, name):
    console = Console(app.test_client())
    assert console.sign_in(name, PASSWORD).status_code == 302
    return console


def make(app, status, created_by="console:paul", **extra):
    """A broadcast in the given status, straight through storage."""
    with write(database(app)) as conn:
        if status == "draft":
            return broadcasts.create(conn, "Entwurf", draft=True, created_by=created_by)[0]
        if status == "awaiting_approval":
            return broadcasts.create(conn, "Zur Freigabe", created_by=created_by,
                                     awaiting_approval_of=created_by.removeprefix("console:"))[0]
        if status == "scheduled":
            return broadcasts.create(conn, "Geplant", send_at="2099-01-01T10:00:00.000000Z",
                                     created_by=created_by)[0]
        return broadcasts.create(conn, "Läuft", created_by=created_by, **extra)[0]


def version_on(console, page):
    """The version of the broadcast the page shows in its approve form (None without one)."""
    found = re.search(r'name="version" value="([^"]*)"',
                      console.client.get(page).get_data(as_text=True))
    return found.group(1) if found else None


def status_of(app, broadcast_id):
    return rows(app, "SELECT status FROM broadcasts WHERE id = ?", broadcast_id)[0][0]


# (action, the broadcast's status before, form, the least role that may, status after)
ACTIONS = [
    ("cancel", "queued", {}, "publisher", "cancelled"),
    ("cancel", "scheduled", {}, "publisher", "cancelled"),
    ("draft", "draft", {"text": "Neu", "action": "send"}, "publisher", "queued"),
    ("draft", "draft", {"text": "Neu", "action": "save"}, "editor", "draft"),
    ("draft", "draft", {"text": "Neu", "action": "request"}, "editor", "awaiting_approval"),
    ("approve", "awaiting_approval", {}, "publisher", "queued"),
    ("reject", "awaiting_approval", {}, "publisher", "draft"),
    ("edit", "scheduled", {"text": "Geändert", "send_at": "2099-02-01T10:00"}, "publisher",
     "scheduled"),
    ("archive", "queued", {"public": "0"}, "publisher", "queued"),
    ("discard", "draft", {}, "publisher", "discarded"),
    ("test", "draft", {}, "editor", "draft"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action, before, form, needed, after", ACTIONS,
                         ids=[f"{a[0]}-{a[1]}-{a[2].get('action', '')}" for a in ACTIONS])
def test_every_console_action_checks_the_role_on_the_server(office, role, action, before, form,
                                                            needed, after):
    from bot.store.users import at_least

    # A draft is changed by its author here (whose draft is whose has its own test below).
    broadcast_id = make(office, before, created_by=f"console:{NAMES[role]}"
                        if action == "draft" else "console:petra")
    console = signed_in(office, NAMES[role])
    page = f"/admin/broadcasts/{broadcast_id}"
    if action == "approve":
        # What a publisher's page carries; an editor's has no approve form to take it from.
        form = dict(form, version=version_on(signed_in(office, "paul"), page))
    response = console.post(f"{page}/{action}", form, token_page=page)
    if at_least(role, needed):
        assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
        assert status_of(office, broadcast_id) == after
    else:
        assert response.status_code == 403
        assert "Nicht erlaubt" in response.get_data(as_text=True)
        assert status_of(office, broadcast_id) == before
    # What was done is in the audit trail under the account's name; what was refused is not.
    recorded = rows(office, "SELECT count(*) FROM audit_log WHERE actor = ? AND target = ?",
                    NAMES[role], f"broadcast:{broadcast_id}")[0][0]
    assert bool(recorded) == at_least(role, needed)


@pytest.mark.parametrize("role", ROLES)
def test_an_editor_composes_but_never_sends_and_a_publisher_sends(office, role):
    console = signed_in(office, NAMES[role])
    confirm = console.post("/admin/compose", {"text": "Straßenfest am Samstag"})
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    nonce = re.search(r'name="nonce" value="([^"]+)"', html).group(1)
    if role == "editor":
        assert 'id="send"' not in html and 'id="request"' in html
    else:
        assert 'id="send"' in html
    sent = console.client.post("/admin/compose", data={
        "csrf_token": csrf_from(html), "text": "Straßenfest am Samstag", "nonce": nonce,
        "action": "send"})
    if role == "editor":
        assert sent.status_code == 403
        assert rows(office, "SELECT count(*) FROM broadcasts") == [(0,)]
        asked = console.client.post("/admin/compose", data={
            "csrf_token": csrf_from(html), "text": "Straßenfest am Samstag", "nonce": nonce,
            "action": "request"})
        assert asked.status_code == 302
        assert rows(office, "SELECT status, requested_by FROM broadcasts") == [
            ("awaiting_approval", "erika")]
    else:
        assert sent.status_code == 302
        assert rows(office, "SELECT status FROM broadcasts") == [("queued",)]


@pytest.mark.parametrize("role, allowed", [("editor", False), ("publisher", False),
                                           ("admin", True)])
def test_only_admins_see_the_audit_trail_and_the_accounts(office, role, allowed):
    console = signed_in(office, NAMES[role])
    for path in ("/admin/audit", "/admin/accounts"):
        assert console.client.get(path).status_code == (200 if allowed else 403)
    added = console.post("/admin/accounts", {"name": "neu", "role": "editor",
                                              "password": PASSWORD}, token_page="/admin")
    assert added.status_code == (302 if allowed else 403)
    assert rows(office, "SELECT count(*) FROM users WHERE name = 'neu'") == [(int(allowed),)]
    for path, form in (("/admin/accounts/erika/role", {"role": "admin"}),
                       ("/admin/accounts/petra/remove", {})):
        response = console.post(path, form, token_page="/admin")
        assert response.status_code == (302 if allowed else 403)
    expected = [("erika", "admin" if allowed else "editor")]
    assert rows(office, "SELECT name, role FROM users WHERE name = 'erika'") == expected
    assert rows(office, "SELECT count(*) FROM users WHERE name = 'petra'") == [(int(not allowed),)]


def test_an_editor_may_discard_only_what_they_wrote(office):
    own = make(office, "draft", created_by="console:erika")
    other = make(office, "draft", created_by="nina")
    console = signed_in(office, "erika")
    for broadcast_id, expected in ((own, "discarded"), (other, "draft")):
        page = f"/admin/broadcasts/{broadcast_id}"
        console.post(f"{page}/discard", token_page=page)
        assert status_of(office, broadcast_id) == expected


def test_an_admin_cannot_demote_or_remove_themselves_nor_the_last_admin(office):
    console = signed_in(office, "anna")
    for path, form in (("/admin/accounts/anna/role", {"role": "editor"}),
                       ("/admin/accounts/anna/remove", {})):
        assert console.post(path, form, token_page="/admin").status_code == 400
    assert rows(office, "SELECT role FROM users WHERE name = 'anna'") == [("admin",)]


def test_a_role_change_counts_from_the_next_click(office):
    console = signed_in(office, "paul")
    assert console.client.get("/admin/audit").status_code == 403
    assert office.test_cli_runner().invoke(args=["users", "role", "paul", "admin"]).exit_code == 0
    assert console.client.get("/admin/audit").status_code == 200


# --- the command ---------------------------------------------------------------------------

def test_users_add_takes_a_role_and_defaults_to_publisher(app, runner):
    assert runner.invoke(args=["users", "add", "ohne", "--password-stdin"],
                         input=PASSWORD + "\n").exit_code == 0
    assert runner.invoke(args=["users", "add", "red", "--role", "editor", "--password-stdin"],
                         input=PASSWORD + "\n").exit_code == 0
    bad = runner.invoke(args=["users", "add", "x", "--role", "chef", "--password-stdin"],
                        input=PASSWORD + "\n")
    assert bad.exit_code != 0 and "editor" in bad.output
    listed = runner.invoke(args=["users", "list"]).output.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["ohne", "publisher"], ["red", "editor"]]


def test_users_role_changes_a_role_and_refuses_unknown_accounts_and_roles(app, runner):
    runner.invoke(args=["users", "add", "red", "--role", "editor", "--password-stdin"],
                  input=PASSWORD + "\n")
    changed = runner.invoke(args=["users", "role", "red", "publisher"])
    assert changed.exit_code == 0 and "publisher" in changed.output
    assert runner.invoke(args=["users", "role", "niemand", "admin"]).exit_code != 0
    assert runner.invoke(args=["users", "role", "red", "chef"]).exit_code != 0
    assert rows(app, "SELECT role FROM users") == [("publisher",)]


@pytest.mark.parametrize("command", [["role", "{}", "admin"], ["remove", "{}"],
                                     ["password", "{}", "--password-stdin"]])
def test_account_names_in_bytes_that_are_not_utf8_name_no_account(app, runner, command):
    # What Python makes of the argument bytes b"r\xf6t" from a Latin-1 terminal.
    name = b"r\xf6t".decode("utf-8", "surrogateescape")
    result = runner.invoke(args=["users"] + [part.format(name) for part in command],
                           input=PASSWORD + "\n")
    assert result.exit_code == 1 and "not UTF-8" in result.output
    assert not isinstance(result.exception, UnicodeError)


@pytest.mark.parametrize("name", ["api", "CLI", "nina", "unknown"])
def test_names_the_audit_trail_gives_machines_cannot_be_accounts(runner, name):
    result = runner.invoke(args=["users", "add", name, "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code != 0 and "reserved" in result.output


def test_accounts_from_before_roles_become_admins(tmp_path):
    """The migration: they could do everything before, so they still can."""
    from bot.store import migrations
    from bot.store.db import connect

    path = tmp_path / "old.db"
    db = connect(path)
    # Everything up to the roles, then an account as the old code wrote it, then the rest.
    names = [m.name for m in migrations.migrations._migrations]
    upto = names[:names.index("0014_user_roles")]
    migrations.migrations.apply(db, stop_before="0014_user_roles")
    assert [n for (n,) in db.conn.execute("SELECT name FROM _sqlite_migrations")] == upto
    db.conn.execute("INSERT INTO users (name, password_hash, created_at) VALUES "
                    "('alt', 'x', '2026-01-01T00:00:00.000000Z')")
    db.conn.commit()
    migrations.migrations.apply(db)
    assert sqlite3.connect(path).execute("SELECT name, role FROM users").fetchall() == [
        ("alt", "admin")]


def test_an_editor_changes_only_the_drafts_they_wrote(office):
    own = make(office, "draft", created_by="console:erika")
    colleagues = make(office, "draft", created_by="console:petra")
    relayed = make(office, "draft", created_by="nina")
    erika = signed_in(office, "erika")
    for broadcast_id, reason in ((colleagues, "Diesen Entwurf hat petra geschrieben"),
                                 (relayed, "amtlichen Warnung")):
        page = f"/admin/broadcasts/{broadcast_id}"
        for action in ("save", "request", "test"):
            response = erika.post(f"{page}/draft", {"text": "EVAKUIERUNG SOFORT!",
                                                    "action": action}, token_page=page)
            assert response.status_code == 403, action
            assert reason in response.get_data(as_text=True)
        urgent = erika.post(f"{page}/draft", {"text": "Entwurf", "urgent": "1",
                                              "action": "save"}, token_page=page)
        assert urgent.status_code == 403
        assert rows(office, "SELECT status, text, urgent, edited_by FROM broadcasts "
                            "WHERE id = ?", broadcast_id) == [("draft", "Entwurf", 0, None)]
        assert rows(office, "SELECT count(*) FROM audit_log WHERE target = ?",
                    f"broadcast:{broadcast_id}") == [(0,)], "nothing happened"
        # The page says so, and offers no box to change it.
        shown = erika.client.get(page).get_data(as_text=True)
        assert 'id="not-yours"' in shown and 'readonly' in shown and 'id="save"' not in shown
        # Unchanged, it may still be put before a publisher.
        asked = erika.post(f"{page}/draft", {"text": "Entwurf", "action": "request"},
                           token_page=page)
        assert asked.status_code == 302
        assert rows(office, "SELECT status, text FROM broadcasts WHERE id = ?",
                    broadcast_id) == [("awaiting_approval", "Entwurf")]
    page = f"/admin/broadcasts/{own}"
    assert erika.post(f"{page}/draft", {"text": "Meins, geändert", "action": "save"},
                      token_page=page).status_code == 302
    assert rows(office, "SELECT text, edited_by FROM broadcasts WHERE id = ?", own) == [
        ("Meins, geändert", None)], "an author's own change is no one else's edit"


def test_a_publishers_change_of_a_colleagues_draft_is_marked(office):
    broadcast_id = make(office, "draft", created_by="console:erika")
    paul = signed_in(office, "paul")
    page = f"/admin/broadcasts/{broadcast_id}"
    assert paul.post(f"{page}/draft", {"text": "Von Paul verbessert", "action": "save"},
                     token_page=page).status_code == 302
    assert rows(office, "SELECT text, edited_by FROM broadcasts") == [
        ("Von Paul verbessert", "paul")]
    shown = signed_in(office, "erika").client.get(page).get_data(as_text=True)
    assert "Geschrieben von erika, bearbeitet von paul" in shown
    (details,) = rows(office, "SELECT details FROM audit_log WHERE action = 'broadcast_edited' "
                              "AND actor = 'paul'")[0]
    assert '"author":"erika"' in details


def test_users_add_says_how_to_get_an_admin_while_there_is_none(app, runner):
    first = runner.invoke(args=["users", "add", "presse", "--password-stdin"],
                          input=PASSWORD + "\n")
    assert first.exit_code == 0
    assert "No account is an admin yet" in first.output
    assert "scripts/flask users role presse admin" in first.output
    admin = runner.invoke(args=["users", "add", "chefin", "--role", "admin", "--password-stdin"],
                          input=PASSWORD + "\n")
    later = runner.invoke(args=["users", "add", "paula", "--password-stdin"],
                          input=PASSWORD + "\n")
    assert "admin yet" not in admin.output and "admin yet" not in later.output


def test_users_list_without_accounts_says_to_create_an_admin(app, runner):
    assert "scripts/flask users add NAME --role admin" in runner.invoke(
        args=["users", "list"]).output


def test_the_production_steps_create_an_admin_first():
    from tests import documentation

    steps = documentation.page(documentation.PRODUCTION)
    assert "runuser -u infokanal -- scripts/flask users add presse --role admin" in steps
