"""A press officer changes their own password in the console: the old one asked again and
counted against the sign-in lock, the new one under the same rules as ``users password``, the
account signed out everywhere else but here, and the change in the audit trail."""

import json
import re

from tests.conftest import OFFICER, OFFICER_PASSWORD, Console, rows

NEW = "ein-ganz-neuer-Satz-7"


def change(console, current=OFFICER_PASSWORD, new=NEW, again=None):
    return console.post("/admin/password", {"current": current, "new": new,
                                            "again": NEW if again is None else again},
                        token_page="/admin/password")


def text(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def failures_counted(app):
    return rows(app, "SELECT count(*) FROM signin_failures")[0][0]


def still_signs_in_with(app, password):
    return Console(app.test_client()).sign_in(password=password).status_code == 302


def test_the_menu_links_to_the_page_and_it_asks_for_the_old_password_and_the_new_twice(console):
    menu = console.client.get("/admin").get_data(as_text=True)
    assert 'href="/admin/password">Passwort ändern</a>' in menu
    page = text(console.client.get("/admin/password"))
    for field in ('name="current" type="password" autocomplete="current-password"',
                  'name="new" type="password" autocomplete="new-password"',
                  'name="again" type="password" autocomplete="new-password"'):
        assert field in page
    assert "Mindestens 12 Zeichen" in page


def test_a_wrong_old_password_is_refused_in_german_and_counts_as_a_failed_sign_in(app, console):
    before = failures_counted(app)
    answer = change(console, current="nicht-mein-Passwort")
    assert answer.status_code == 400
    assert "Ihr bisheriges Passwort stimmt nicht." in text(answer)
    # Counted against the lock of the name and of the address, as a failed sign-in is.
    assert failures_counted(app) == before + 2
    [(actor, attempts)] = rows(app, "SELECT actor, attempts FROM signin_failure_windows")
    assert (actor, attempts) == (OFFICER, 1)
    assert still_signs_in_with(app, OFFICER_PASSWORD) and not still_signs_in_with(app, NEW)


def test_guessing_the_old_password_through_an_open_session_locks_like_sign_in(app, console):
    for _ in range(app.config["SIGNIN_MAX_FAILURES"]):
        assert change(console, current="geraten-geraten").status_code == 400
    locked = change(console)  # even the right one, now
    assert locked.status_code == 429 and "Zu viele fehlgeschlagene Anmeldungen" in text(locked)
    assert Console(app.test_client()).sign_in().status_code == 429
    assert still_signs_in_with(app, OFFICER_PASSWORD) is False


def test_two_different_new_passwords_are_refused_before_the_old_one_is_checked(app, console):
    before = failures_counted(app)
    answer = change(console, again=NEW + "x")
    assert answer.status_code == 400
    assert "Die beiden Eingaben des neuen Passworts stimmen nicht überein." in text(answer)
    assert failures_counted(app) == before
    assert still_signs_in_with(app, OFFICER_PASSWORD)


def test_a_short_new_password_is_refused_with_the_rule_of_users_password(app, console):
    answer = change(console, new="kurz", again="kurz")
    assert answer.status_code == 400
    assert "Das neue Passwort braucht mindestens 12 Zeichen." in text(answer)
    assert change(console, current="").status_code == 400
    assert still_signs_in_with(app, OFFICER_PASSWORD)


def test_the_same_password_again_changes_nothing_and_says_so(app, console):
    answer = change(console, new=OFFICER_PASSWORD, again=OFFICER_PASSWORD)
    assert answer.status_code == 400
    # The whole sentence: "Ihr bisheriges" alone is also in the wrong-password answer.
    assert "Das neue Passwort ist Ihr bisheriges. Bitte wählen Sie ein anderes." in text(answer)
    assert "stimmt nicht" not in text(answer)
    assert [row for row in rows(app, "SELECT action FROM audit_log")
            if row[0] == "user_password_changed"] == []


def test_without_the_forms_token_nothing_changes(app, console):
    answer = console.client.post("/admin/password", data={
        "current": OFFICER_PASSWORD, "new": NEW, "again": NEW})
    assert answer.status_code == 400 and "Formular abgelaufen" in text(answer)
    assert still_signs_in_with(app, OFFICER_PASSWORD)


def test_the_change_ends_the_other_sessions_keeps_this_one_and_is_audited(app, console):
    elsewhere = Console(app.test_client())
    assert elsewhere.sign_in().status_code == 302
    assert elsewhere.client.get("/admin").status_code == 200
    answer = change(console)
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/password"
    page = console.client.get("/admin/password")
    assert page.status_code == 200
    assert "Ihr Passwort ist geändert." in text(page)
    assert console.client.get("/admin").status_code == 200
    gone = elsewhere.client.get("/admin")
    assert gone.status_code == 302 and "/admin/login" in gone.headers["Location"]
    # Only this browser's (renewed) session is left on the server.
    assert rows(app, "SELECT count(*) FROM console_sessions")[0][0] == 1
    assert still_signs_in_with(app, NEW) and not still_signs_in_with(app, OFFICER_PASSWORD)
    [entry] = [row for row in rows(app, "SELECT actor, action, target, details FROM audit_log")
               if row[1] == "user_password_changed"]
    assert entry[:3] == (OFFICER, "user_password_changed", OFFICER)
    assert json.loads(entry[3]) == {"sessions_ended": 1}
    trail = json.dumps(rows(app, "SELECT * FROM audit_log"))
    assert NEW not in trail and OFFICER_PASSWORD not in trail


def test_the_page_needs_a_session(client):
    answer = client.get("/admin/password")
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]
