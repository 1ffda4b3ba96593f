"""The press office console through the Flask test client, with a real database."""

import re
import sqlite3
import time

import pytest

from bot import create_app
from bot.platforms import twilio as gateway
from bot.store import broadcasts, deliveries
from bot.store.db import write
from bot.web.database import get_db
from tests.conftest import (OFFICER, OFFICER_PASSWORD, Console, csrf_from, database,
                            signed_in_demo_console, submit_broadcast)


def rows(app, sql, *params):
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        return conn.execute(sql, params).fetchall()


def confirm_page(console, text, **fields):
    return console.post("/admin/compose", dict(text=text, **fields))


def send_from_console(console, text, **fields):
    page = confirm_page(console, text, **fields)
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', html).group(1)
    form = dict(text=text, nonce=nonce, csrf_token=csrf_from(html), **fields)
    return console.client.post("/admin/compose", data=form), nonce


# --- accounts and the users command ---------------------------------------------------------

def test_users_add_prompts_twice_and_stores_only_a_hash(app, runner):
    result = runner.invoke(args=["users", "add", "anna"],
                           input="sehr-geheimes-Wort\nsehr-geheimes-Wort\n")
    assert result.exit_code == 0 and "anna" in result.output
    [(stored,)] = rows(app, "SELECT password_hash FROM users WHERE name = 'anna'")
    assert "sehr-geheimes-Wort" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    assert "anna" in runner.invoke(args=["users", "list"]).output


def test_users_add_refuses_a_short_password_before_asking_twice_and_asks_again(app, runner):
    result = runner.invoke(args=["users", "add", "dora"],
                           input="kurz\nsehr-geheimes-Wort\nsehr-geheimes-Wort\n")
    assert result.exit_code == 0, result.output
    assert "at least 12 characters. Please try again." in result.output
    # The short one was never asked for a second time.
    assert result.output.count("Repeat the password") == 1
    from bot.store.users import authenticate
    from tests.conftest import database

    assert authenticate(database(app).conn, "dora", "sehr-geheimes-Wort") is not None


def test_users_add_asks_again_when_the_repetition_differs(app, runner):
    result = runner.invoke(args=["users", "add", "emil"], input=(
        "erstes-Passwort-x\nzweites-Passwort\nsehr-geheimes-Wort\nsehr-geheimes-Wort\n"))
    assert result.exit_code == 0, result.output
    assert "the two passwords differ" in result.output
    assert rows(app, "SELECT name FROM users") == [("emil",)]


def test_users_add_refuses_mismatch_short_password_and_duplicates(app, runner):
    mismatch = runner.invoke(args=["users", "add", "bernd"],
                             input="erstes-Passwort-x\nzweites-Passwort\n")
    assert mismatch.exit_code != 0
    short = runner.invoke(args=["users", "add", "bernd", "--password-stdin"], input="kurz\n")
    assert short.exit_code != 0 and "12" in short.output
    ok = runner.invoke(args=["users", "add", "bernd", "--password-stdin"],
                       input="aus-einem-Skript-123\n")
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(args=["users", "add", "bernd", "--password-stdin"],
                          input="aus-einem-Skript-123\n")
    assert again.exit_code != 0 and "exists" in again.output
    bad_name = runner.invoke(args=["users", "add", "a b", "--password-stdin"],
                             input="aus-einem-Skript-123\n")
    assert bad_name.exit_code != 0
    assert rows(app, "SELECT name FROM users") == [("bernd",)]


def test_every_users_command_has_help_and_is_in_the_readme(runner):
    from tests.documentation import EVERYTHING as readme

    for command in ("add", "list", "remove", "password"):
        result = runner.invoke(args=["users", command, "--help"])
        assert result.exit_code == 0 and result.output.strip()
        assert f"users {command}" in readme


def test_removed_account_loses_its_session(app, console, runner):
    assert console.client.get("/admin").status_code == 200
    assert runner.invoke(args=["users", "remove", OFFICER]).exit_code == 0
    response = console.client.get("/admin")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_new_password_ends_old_sessions(app, console, runner):
    result = runner.invoke(args=["users", "password", OFFICER, "--password-stdin"],
                           input="ein-ganz-neues-Passwort\n")
    assert result.exit_code == 0, result.output
    assert console.client.get("/admin").status_code == 302


# --- sessions --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/admin", "/admin/compose", "/admin/broadcasts/1",
                                  "/admin/audience"])
def test_console_pages_without_session_redirect_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_counts_endpoint_without_session_is_401_json(client):
    response = client.get("/admin/broadcasts/1/counts.json")
    assert response.status_code == 401 and response.json["error"]


def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_it(client, officer):
    console = Console(client)
    response = console.sign_in()
    assert response.status_code == 302 and response.headers["Location"] == "/admin"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" in cookie  # PUBLIC_URL is https in the test configuration
    assert client.get("/admin").status_code == 200
    out = console.post("/admin/logout", token_page="/admin")
    assert out.status_code == 302
    assert client.get("/admin").status_code == 302


def test_cookie_is_not_secure_for_a_plain_http_public_url(config, officer):
    app = create_app(dict(config, PUBLIC_URL="http://127.0.0.1:8000"))
    app.test_cli_runner().invoke(args=["users", "add", "carla", "--password-stdin"],
                                 input="noch-ein-Passwort-1\n")
    response = Console(app.test_client()).sign_in("carla", "noch-ein-Passwort-1")
    assert response.status_code == 302 and "Secure" not in response.headers["Set-Cookie"]


def test_wrong_password_is_refused_in_german(client, officer):
    response = Console(client).sign_in(password="falsch-falsch-falsch")
    assert response.status_code == 401
    assert "Name oder Passwort stimmt nicht" in response.get_data(as_text=True)
    assert client.get("/admin").status_code == 302


def test_sign_in_only_redirects_into_the_console(client, officer):
    console = Console(client)
    response = client.post("/admin/login", data={
        "csrf_token": console.token(), "name": OFFICER, "password": OFFICER_PASSWORD,
        "next": "//evil.example/admin"})
    assert response.headers["Location"] == "/admin"


def test_sign_in_returns_to_the_page_asked_for(client, officer):
    console = Console(client)
    response = client.post("/admin/login", data={
        "csrf_token": console.token(), "name": OFFICER, "password": OFFICER_PASSWORD,
        "next": "/admin/audience"})
    assert response.headers["Location"] == "/admin/audience"


# --- CSRF ------------------------------------------------------------------------------------

def test_sign_in_without_csrf_token_is_refused(client, officer):
    response = client.post("/admin/login", data={"name": OFFICER, "password": OFFICER_PASSWORD})
    assert response.status_code == 400
    assert "Formular" in response.get_data(as_text=True)
    assert client.get("/admin").status_code == 302


def test_compose_with_a_foreign_csrf_token_creates_nothing(app, console, citizen):
    citizen().send("Start")
    for token in (None, "x" * 43):
        data = {"text": "Gefälscht", "nonce": "egal"}
        if token:
            data["csrf_token"] = token
        response = console.client.post("/admin/compose", data=data)
        assert response.status_code == 400
    assert rows(app, "SELECT count(*) FROM broadcasts") == [(0,)]


def test_cancel_without_csrf_token_changes_nothing(app, console):
    with app.app_context():
        answer = submit_broadcast({"text": "Bleibt"}, created_by="test")
    response = console.client.post(f"/admin/broadcasts/{answer['id']}/cancel")
    assert response.status_code == 400
    assert rows(app, "SELECT status FROM broadcasts") == [("queued",)]


def test_api_and_webhook_need_no_csrf_token(console, citizen):
    from tests.conftest import ADMIN_TOKEN

    assert citizen().send("Start").status_code == 200
    response = console.client.post("/api/broadcasts", json={"text": "Per API"},
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 202


# --- throttle --------------------------------------------------------------------------------

def test_sign_in_is_throttled_after_five_failures_even_with_the_right_password(client, officer):
    console = Console(client)
    for _ in range(5):
        assert console.sign_in(password="falsch-geraten-1").status_code == 401
    locked = console.sign_in()
    assert locked.status_code == 429
    assert "Zu viele fehlgeschlagene Anmeldungen" in locked.get_data(as_text=True)
    assert client.get("/admin").status_code == 302


def test_throttle_counts_per_client_address_across_account_names(app, officer):
    attacker = Console(app.test_client())
    for number in range(5):
        attacker.sign_in(name=f"rate{number}", password="falsch-geraten-1")
    assert attacker.sign_in().status_code == 429
    colleague = Console(app.test_client())
    response = colleague.sign_in(environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 302


def test_throttle_counts_per_account_across_client_addresses(app, officer):
    for number in range(5):
        Console(app.test_client()).sign_in(password="falsch-geraten-1",
                                           environ_base={"REMOTE_ADDR": f"10.0.0.{number}"})
    response = Console(app.test_client()).sign_in(environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert response.status_code == 429


def test_throttle_lifts_after_the_lock_time(config):
    # A window of 3 s: the five failures (a password hash each) must all fall inside it, also
    # on a busy machine; the lock lifts once the last of them is older than the window.
    window = 3.0
    app = create_app(dict(config, SIGNIN_LOCK_MINUTES=window / 60))
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                 input=f"{OFFICER_PASSWORD}\n")
    console = Console(app.test_client())
    for _ in range(5):
        console.sign_in(password="falsch-geraten-1")
    last_failure = time.monotonic()
    assert console.sign_in().status_code == 429
    time.sleep(max(0.0, last_failure + window + 0.5 - time.monotonic()))
    assert console.sign_in().status_code == 302


def test_throttle_never_stores_the_client_address(app, officer):
    Console(app.test_client()).sign_in(password="falsch-geraten-1",
                                       environ_base={"REMOTE_ADDR": "192.0.2.77"})
    keys = [key for (key,) in rows(app, "SELECT key FROM signin_failures")]
    assert len(keys) == 2 and not any("192.0.2.77" in key for key in keys)


# --- compose and send ------------------------------------------------------------------------

def test_confirmation_says_how_many_subscribers_it_will_reach(console, citizen):
    for _ in range(3):
        citizen().send("Start")
    page = confirm_page(console, "Sperrung der B7 ab Montag").get_data(as_text=True)
    assert "<strong>3 Abonnentinnen und Abonnenten</strong>" in page
    assert "Sperrung der B7 ab Montag" in page


def test_sending_from_the_console_queues_one_delivery_per_subscriber(app, console, citizen):
    for _ in range(3):
        citizen().send("Start")
    response, nonce = send_from_console(console, "Hochwasserwarnung für die Altstadt",
                                        urgent="1")
    assert response.status_code == 302
    assert rows(app, "SELECT text, status, recipients, urgent, created_by FROM broadcasts") == [
        ("Hochwasserwarnung für die Altstadt", "queued", 3, 1, f"console:{OFFICER}")]
    assert rows(app, "SELECT count(*) FROM deliveries") == [(3,)]
    detail = console.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "wird an 3 Abonnentinnen und Abonnenten gesendet" in detail


def test_sending_the_same_confirmation_twice_queues_it_once(app, console, citizen):
    citizen().send("Start")
    response, nonce = send_from_console(console, "Nur einmal")
    again = console.post("/admin/compose", {"text": "Nur einmal", "nonce": nonce})
    assert again.status_code == 302 and again.headers["Location"] == "/admin"
    assert rows(app, "SELECT count(*) FROM broadcasts") == [(1,)]


def test_scheduled_broadcast_from_the_console(app, console):
    response, _ = send_from_console(console, "Termin", send_at="2099-12-24T18:00")
    assert response.status_code == 302
    [(status, send_at)] = rows(app, "SELECT status, send_at FROM broadcasts")
    assert status == "scheduled" and send_at.startswith("2099-12-24T17:00")


@pytest.mark.parametrize("fields, german", [
    ({"text": "   "}, "Bitte geben Sie einen Text ein"),
    ({"text": "x" * 1601}, "Der Text hat 1.601 Zeichen; erlaubt sind höchstens 1.600"),
    ({"text": "Bild", "media_url": "ftp://x"}, "Bild-Adresse"),
    ({"text": "Alt", "send_at": "2001-01-01T10:00"}, "Vergangenheit"),
    ({"text": "Kaputt", "send_at": "morgen früh"}, "kein gültiges Datum"),
])
def test_invalid_compose_is_explained_in_german_without_5xx(app, console, fields, german):
    response = console.post("/admin/compose", fields)
    assert response.status_code == 400
    assert german in response.get_data(as_text=True)
    assert rows(app, "SELECT count(*) FROM broadcasts") == [(0,)]


def test_template_mode_limits_the_counter_to_what_the_template_leaves(config, officer):
    app = create_app(dict(config, BROADCAST_CONTENT_SID="HX" + "0" * 32))
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                 input=f"{OFFICER_PASSWORD}\n")
    console = Console(app.test_client())
    console.sign_in()
    page = console.client.get("/admin/compose").get_data(as_text=True)
    assert 'data-limit="924"' in page and 'id="media_url"' not in page


# --- list, detail, cancel --------------------------------------------------------------------

def test_detail_groups_failures_and_skips_in_plain_german(app, console, citizen):
    for _ in range(6):
        citizen().send("Start")
    with app.app_context():
        answer = submit_broadcast({"text": "Test"}, created_by="test")
        with write(get_db()) as conn:
            claimed = deliveries.claim(conn, answer["id"], 10, time.time())
            ids = [item.delivery_id for item in claimed]
            deliveries.record_outcomes(
                conn, sent=[("SM" + "a" * 32, ids[0])],
                failed=[(code, gateway.classify_code(code), delivery_id) for code, delivery_id
                        in (("63003", ids[1]), ("21211", ids[2]), ("63016", ids[3]),
                            ("99999", ids[4]))],
                skipped=[("unsubscribed", ids[5])], retry=[], unknown_retries={})
    page = console.client.get(f"/admin/broadcasts/{answer['id']}").get_data(as_text=True)
    assert "Nummer nicht bei WhatsApp / ungültig: 2" in page
    assert "Vorlage fehlt (außerhalb 24-Stunden-Fenster): 1" in page
    assert "Sonstiger Fehler (Code 99999): 1" in page
    assert "Vor dem Versand abgemeldet: 1" in page
    counts = console.client.get(f"/admin/broadcasts/{answer['id']}/counts.json").json
    assert counts["counts"]["failed"] == 4 and counts["counts"]["sent"] == 1
    assert counts["failed"][0] == {"reason": "Nummer nicht bei WhatsApp / ungültig", "count": 2}


def test_cancel_from_the_console(app, console, citizen):
    citizen().send("Start")
    with app.app_context():
        answer = submit_broadcast({"text": "Abbrechen"}, created_by="test")
    detail = f"/admin/broadcasts/{answer['id']}"
    response = console.post(f"{detail}/cancel", token_page=detail)
    assert response.status_code == 302
    assert rows(app, "SELECT status FROM broadcasts") == [("cancelled",)]
    page = console.client.get(detail).get_data(as_text=True)
    assert "abgebrochen" in page and 'id="cancel"' not in page
    again = console.post(f"{detail}/cancel", token_page=detail)
    assert again.status_code == 302


def test_unknown_broadcast_is_404_not_5xx(console):
    assert console.client.get("/admin/broadcasts/999").status_code == 404
    assert console.client.get("/admin/broadcasts/999/counts.json").status_code == 404
    assert console.post("/admin/broadcasts/999/cancel").status_code == 404


def test_list_shows_broadcasts_with_status(app, console):
    with app.app_context():
        submit_broadcast({"text": "Erste Meldung"}, created_by="test")
    page = console.client.get("/admin").get_data(as_text=True)
    assert "Erste Meldung" in page and "wartet" in page


def list_rows(page):
    """{broadcast id: (status, recipients, {count: n}, live)} as the list page shows them."""
    found = {}
    for match in re.finditer(r'<li class="broadcast" data-broadcast="(\d+)"([^>]*)>(.*?)</li>',
                             page, re.S):
        row = match.group(3)
        status = re.search(r"data-status>([^<]*)<", row).group(1)
        recipients = int(re.search(r"data-recipients>(\d+)<", row).group(1))
        counts = {key: int(n) for key, n in re.findall(r'data-count="(\w+)">(\d+)<', row)}
        found[int(match.group(1))] = (status, recipients, counts, "data-live" in match.group(2))
    return found


def test_list_shows_status_and_every_count_and_the_script_can_refresh_them(
        app, console, citizen, twilio_api):
    from tests.conftest import ACCOUNT_SID

    people = [citizen() for _ in range(5)]
    for person in people:
        person.send("Start")
    twilio_api.recipient_errors[people[3].number] = (400, 63003)
    with app.app_context():
        sent = submit_broadcast({"text": "Schon draußen"}, created_by="test")["id"]
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
    people[4].send("Stop")  # before the next broadcast: it is skipped there
    sids = {message["To"]: message["sid"] for message in twilio_api.messages}
    for person, status in zip(people, ["delivered", "read"]):
        form = {"MessageSid": sids[f"whatsapp:{person.number}"], "MessageStatus": status,
                "AccountSid": ACCOUNT_SID}
        assert person.post_signed("/twilio/status", form).status_code == 200
    with app.app_context():
        waiting = submit_broadcast({"text": "Wartet noch"}, created_by="test")["id"]
    expected_sent = {"queued": 0, "sent": 2, "delivered": 1, "read": 1, "failed": 1,
                     "skipped": 0}
    expected_waiting = {"queued": 4, "sent": 0, "delivered": 0, "read": 0, "failed": 0,
                        "skipped": 0}
    # The page counts cumulatively: the read message was delivered and sent too.
    shown_sent = {"queued": 0, "sent": 4, "delivered": 2, "read": 1, "failed": 1, "skipped": 0}
    page = console.client.get("/admin").get_data(as_text=True)
    assert list_rows(page) == {sent: ("gesendet", 5, shown_sent, True),
                               waiting: ("wartet", 4, expected_waiting, True)}
    assert 'data-counts-url="/admin/counts.json"' in page

    response = console.client.get(f"/admin/counts.json?ids={waiting},{sent}")
    assert response.status_code == 200
    assert response.json == {"broadcasts": [
        {"id": waiting, "status": "queued", "status_label": "wartet", "recipients": 4,
         "counts": expected_waiting, "reached": {"sent": 0, "delivered": 0, "read": 0}},
        {"id": sent, "status": "done", "status_label": "gesendet", "recipients": 5,
         "counts": expected_sent, "reached": {"sent": 4, "delivered": 2, "read": 1}}]}


def test_counts_are_cumulative_so_a_read_message_is_also_sent_and_delivered(
        app, console, citizen, twilio_api):
    """A finished broadcast whose one message was read and the others delivered: every page
    says all three went out and arrived, one was read (not "0 sent, 0 delivered, 1 read")."""
    from tests.conftest import ACCOUNT_SID, ADMIN_TOKEN

    people = [citizen() for _ in range(3)]
    for person in people:
        person.send("Start")
    with app.app_context():
        broadcast_id = submit_broadcast({"text": "Drei Empfänger"}, created_by="test")["id"]
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
    sids = {message["To"]: message["sid"] for message in twilio_api.messages}
    for person, status in zip(people, ["read", "delivered", "delivered"]):
        form = {"MessageSid": sids[f"whatsapp:{person.number}"], "MessageStatus": status,
                "AccountSid": ACCOUNT_SID}
        assert person.post_signed("/twilio/status", form).status_code == 200
    shown = {"queued": 0, "sent": 3, "delivered": 3, "read": 1, "failed": 0, "skipped": 0}

    detail = console.client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert {key: int(n) for key, n in re.findall(
        r'data-count="(\w+)">([\d.]+)</span>', detail)} == shown
    assert "Zustellung an 3 Abonnentinnen und Abonnenten" in detail
    assert list_rows(console.client.get("/admin").get_data(as_text=True))[broadcast_id][2] \
        == shown

    polled = console.client.get(f"/admin/broadcasts/{broadcast_id}/counts.json").json
    assert polled["reached"] == {"sent": 3, "delivered": 3, "read": 1}
    listed = console.client.get(f"/admin/counts.json?ids={broadcast_id}").json
    assert listed["broadcasts"][0]["reached"] == {"sent": 3, "delivered": 3, "read": 1}

    # The API keeps its fields' meaning (each recipient once, at the furthest stage) and adds
    # the cumulative ones.
    api = app.test_client().get(f"/api/broadcasts/{broadcast_id}", headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}"}).json
    assert api["counts"] == {"queued": 0, "sent": 0, "delivered": 2, "read": 1, "failed": 0,
                             "skipped": 0}
    assert api["reached"] == {"sent": 3, "delivered": 3, "read": 1}


@pytest.mark.parametrize("ids", ["1,x", "1;2", "9" * 30, ",".join(["1"] * 51)])
def test_list_counts_refuse_bad_ids_with_json(console, ids):
    response = console.client.get(f"/admin/counts.json?ids={ids}")
    assert response.status_code == 400 and response.json["error"]


def test_list_counts_need_a_session(client):
    response = client.get("/admin/counts.json?ids=1")
    assert response.status_code == 401 and response.json["error"]


# --- audience --------------------------------------------------------------------------------

def test_audience_shows_counts_per_day_and_never_a_number(console, citizen):
    erika, max_ = citizen(), citizen()
    erika.send("Start")
    max_.send("Start")
    max_.send("Stop")
    page = console.client.get("/admin/audience").get_data(as_text=True)
    assert re.search(r'id="active">\s*1\s*<', page)
    assert "2 Anmeldungen, 1 Abmeldung." in page
    assert "<svg" in page and 'class="subscribed"' in page
    for number in (erika.number, max_.number):
        assert number[-7:] not in page


def test_console_pages_have_no_inline_script_or_style(app, console, citizen):
    citizen().send("Start")
    with app.app_context():
        answer = submit_broadcast({"text": "Inline?"}, created_by="test")
    pages = ["/admin", "/admin/compose", f"/admin/broadcasts/{answer['id']}", "/admin/audience"]
    pages.append(None)
    html = [console.client.get(path).get_data(as_text=True) for path in pages if path]
    html.append(confirm_page(console, "Vorschau").get_data(as_text=True))
    for page in html:
        assert not re.search(r"<script(?![^>]*\bsrc=)", page)
        assert not re.search(r"\son[a-z]+\s*=", page)
        assert " style=" not in page


# --- simulator -------------------------------------------------------------------------------

def test_simulator_does_not_exist_with_twilio_credentials(console):
    assert console.client.get("/admin/simulator").status_code == 404


@pytest.fixture
def demo_console(config):
    return signed_in_demo_console(config)


def test_simulator_answers_like_whatsapp_and_masks_the_number(demo_console):
    sent = demo_console.post("/admin/simulator", {"body": "Start"},
                             token_page="/admin/simulator")
    assert sent.status_code == 302
    page = demo_console.client.get("/admin/simulator").get_data(as_text=True)
    assert "Willkommen beim Infokanal" in page
    masked = re.search(r'id="sim-number">([^<]+)<', page).group(1)
    assert "•••" in masked
    assert not re.search(r"\+49155\d{8}", page)
    demo_console.post("/admin/simulator", {"body": "Stop"}, token_page="/admin/simulator")
    assert "abgemeldet" in demo_console.client.get("/admin/simulator").get_data(as_text=True)


def test_simulator_needs_a_session_and_a_csrf_token(config):
    demo = {k: v for k, v in config.items() if not k.startswith("TWILIO_")}
    client = create_app(demo).test_client()
    assert client.get("/admin/simulator").status_code == 302
    assert client.post("/admin/simulator", data={"body": "Start"}).status_code == 400


def simulated_citizen_subscribed(config):
    """A demo app, an officer signed in to its console, and the simulator's citizen joined:
    (app, its CLI runner, the console)."""
    demo = {k: v for k, v in config.items() if not k.startswith("TWILIO_")}
    app = create_app(demo)
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "add", OFFICER, "--password-stdin"],
                  input=f"{OFFICER_PASSWORD}\n")
    console = Console(app.test_client())
    console.sign_in()
    console.post("/admin/simulator", {"body": "Start"}, token_page="/admin/simulator")
    return app, runner, console


def test_simulator_shows_broadcasts_arriving_in_the_outbox(config):
    app, runner, console = simulated_citizen_subscribed(config)
    send_from_console(console, "Probealarm: nur ein Test")
    with app.app_context():  # the worker command is a plain click command
        assert runner.invoke(args=["worker", "--until-idle"]).exit_code == 0
    page = console.client.get("/admin/simulator").get_data(as_text=True)
    chat = page[page.index('id="chat"'):page.index('id="eingabe"')]
    assert "Meldung ·" in chat and "Probealarm: nur ein Test" in chat


def test_the_simulated_citizen_taps_a_polls_answer_and_it_counts(config):
    app, runner, console = simulated_citizen_subscribed(config)
    token = {"Authorization": f"Bearer {config['ADMIN_TOKEN']}"}
    poll = console.client.post("/api/broadcasts", headers=token, json={
        "text": "Soll der Markt am Sonntag öffnen?", "answers": ["Ja", "Nein"]})
    assert poll.status_code == 202, poll.get_json()
    poll_id = poll.get_json()["id"]
    with app.app_context():
        assert runner.invoke(args=["worker", "--until-idle"]).exit_code == 0
    page = console.client.get("/admin/simulator").get_data(as_text=True)
    chat = page[page.index('id="chat"'):page.index('id="eingabe"')]
    assert f'name="payload" value="poll:{poll_id}:1">Ja</button>' in chat
    assert "[Ja]  [Nein]" not in chat  # buttons to tap, not their text
    tapped = console.post("/admin/simulator/tap", {"payload": f"poll:{poll_id}:1"},
                          token_page="/admin/simulator")
    assert tapped.status_code == 302
    page = console.client.get("/admin/simulator").get_data(as_text=True)
    assert "[Ja]" in page and "Danke, Ihre Antwort ist gezählt." in page
    results = console.client.get(f"/api/broadcasts/{poll_id}", headers=token).get_json()["poll"]
    assert [a["votes"] for a in results["answers"]] == [1, 0]
    # A payload of no poll, or of an answer it does not have, is refused and counts nothing.
    for payload in ("poll:999:1", f"poll:{poll_id}:3", "Ja"):
        refused = console.post("/admin/simulator/tap", {"payload": payload},
                               token_page="/admin/simulator")
        assert refused.status_code == 400, payload
    results = console.client.get(f"/api/broadcasts/{poll_id}", headers=token).get_json()["poll"]
    assert results["votes"] == 1


# --- pause reasons ---------------------------------------------------------------------------

@pytest.mark.parametrize("error, german", [
    ((401, 20003), "Twilio hat die Zugangsdaten oder die Absendernummer abgelehnt (Code 20003)"),
    ((400, 63018), "Das Tageslimit von WhatsApp für diese Nummer ist erreicht (Code 63018)"),
])
def test_a_paused_broadcast_says_why_in_plain_german(app, console, citizen, twilio_api, error,
                                                     german):
    citizen().send("Start")
    twilio_api.error_queue = [error]
    with app.app_context():
        answer = submit_broadcast({"text": "Pausiert?"}, created_by="test")
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
    assert rows(app, "SELECT status FROM broadcasts") == [("paused",)]
    page = console.client.get(f"/admin/broadcasts/{answer['id']}").get_data(as_text=True)
    assert german in page
    assert "credentials" not in page and "messaging limit" not in page


@pytest.mark.parametrize("reason, german, english", [
    ("data key", "Der Datenschlüssel (DATA_KEY) passt nicht", "data key"),
    ("disk on fire", "Ein technisches Problem beim Versand (disk on fire)", None),
])
def test_every_pause_reason_reads_as_german(app, console, reason, german, english):
    with app.app_context():
        answer = submit_broadcast({"text": "Pausiert?"}, created_by="test")
    with write(database(app)) as conn:
        broadcasts.pause(conn, answer["id"], reason)
    page = console.client.get(f"/admin/broadcasts/{answer['id']}").get_data(as_text=True)
    assert german in page
    if english:
        assert english not in page


def test_on_meta_the_labels_name_meta_not_twilio(config):
    """The press office of a county on Meta's API reads Meta's name where the service is meant."""
    from bot import vocabulary
    from bot.web import labels
    from tests import test_meta_webhook as meta

    with create_app(meta.meta_settings(config)).app_context():
        assert labels.failure(vocabulary.CREDENTIALS, "190") == "Zugangsdaten von Meta ungültig"
        assert labels.failure(vocabulary.THROTTLED, "130429") == "Zu viele Anfragen an Meta"
        assert labels.pause_reason("credentials (190)").startswith("Meta hat die Zugangsdaten")
    with create_app(config).app_context():
        assert labels.failure(vocabulary.CREDENTIALS, "20003") == "Zugangsdaten von Twilio ungültig"
