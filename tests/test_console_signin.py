"""Sign-in throttle under parallel guessing, and what a sign-out ends."""

import glob
import threading
import time

import pytest

from tests.conftest import OFFICER, OFFICER_PASSWORD, Console, rows

WRONG = "falsch-geraten-1"


def guess_in_parallel(app, attempts):
    """Post wrong passwords all at once, each from its own client: [(status, name, address)]."""
    consoles = [Console(app.test_client()) for _ in attempts]
    tokens = [console.token() for console in consoles]
    start = threading.Barrier(len(attempts))
    results = [None] * len(attempts)

    def guess(index):
        name, address = attempts[index]
        start.wait()
        response = consoles[index].client.post(
            "/admin/login", data={"csrf_token": tokens[index], "name": name, "password": WRONG},
            environ_base={"REMOTE_ADDR": address})
        results[index] = response.status_code

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("shared", ["address", "name"])
def test_parallel_guesses_get_no_more_than_the_allowed_failures(app, officer, shared):
    if shared == "address":
        attempts = [(f"rate{n}", "10.0.0.1") for n in range(12)]
    else:
        attempts = [(OFFICER, f"10.0.1.{n}") for n in range(12)]
    results = guess_in_parallel(app, attempts)
    assert sorted(results) == [401] * 5 + [429] * 7
    # The lock holds afterwards, also for the right password.
    address = "10.0.0.1" if shared == "address" else "10.0.2.1"
    locked = Console(app.test_client()).sign_in(environ_base={"REMOTE_ADDR": address})
    assert locked.status_code == 429


def test_a_successful_sign_in_does_not_reset_the_count_for_more_guesses(app, officer):
    """A colleague with an account cannot clear their address's count between guesses."""
    app.test_cli_runner().invoke(args=["users", "add", "kollege", "--password-stdin"],
                                 input="eigenes-Passwort-123\n")
    guesser = Console(app.test_client())
    for number in range(4):
        assert guesser.sign_in(name=f"rate{number}", password=WRONG).status_code == 401
    assert guesser.sign_in("kollege", "eigenes-Passwort-123").status_code == 302
    assert guesser.sign_in(name="rate9", password=WRONG).status_code == 401
    assert guesser.sign_in(name="rate10", password=WRONG).status_code == 429
    assert len(rows(app, "SELECT key FROM signin_failures")) == 10


# --- sessions --------------------------------------------------------------------------------

def session_cookie(client):
    return client.get_cookie("infokanal_session").value


def test_a_cookie_copied_before_sign_out_no_longer_works(app, client, officer):
    console = Console(client)
    assert console.sign_in().status_code == 302
    copied = session_cookie(client)
    assert console.post("/admin/logout", token_page="/admin").status_code == 302
    thief = app.test_client()
    thief.set_cookie("infokanal_session", copied)
    response = thief.get("/admin")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert thief.get("/admin/broadcasts/1/counts.json").status_code == 401


def test_signing_out_in_one_browser_keeps_the_other_signed_in(app, officer):
    office, phone = Console(app.test_client()), Console(app.test_client())
    assert office.sign_in().status_code == 302 and phone.sign_in().status_code == 302
    office.post("/admin/logout", token_page="/admin")
    assert office.client.get("/admin").status_code == 302
    assert phone.client.get("/admin").status_code == 200


def test_ended_sessions_are_swept_from_the_database(config, officer):
    from bot import create_app

    app = create_app(dict(config, CONSOLE_SESSION_HOURS=0.0003))  # about a second
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                 input=f"{OFFICER_PASSWORD}\n")
    console = Console(app.test_client())
    assert console.sign_in().status_code == 302
    time.sleep(1.3)
    assert console.client.get("/admin").status_code == 302
    assert console.sign_in().status_code == 302
    assert len(rows(app, "SELECT id_hash FROM console_sessions")) == 1


# --- what the throttle keeps -----------------------------------------------------------------

def test_a_password_typed_into_the_name_field_is_not_stored(app, officer):
    console = Console(app.test_client())
    assert console.sign_in(name=OFFICER_PASSWORD, password="").status_code == 401
    assert console.sign_in(name="Presse", password=WRONG).status_code == 401
    keys = [key for (key,) in rows(app, "SELECT key FROM signin_failures")]
    assert len(keys) == 4
    for typed in (OFFICER_PASSWORD, "presse", "Presse"):
        assert not any(typed.casefold() in key.casefold() for key in keys)
    for path in glob.glob(app.config["DATABASE_PATH"] + "*"):
        with open(path, "rb") as stored:
            assert OFFICER_PASSWORD.casefold().encode() not in stored.read().lower(), path


def test_the_name_lock_still_counts_every_spelling_of_a_name(app, officer):
    for number, spelling in enumerate(["presse", "PRESSE", "Presse", "pResse", "presSe"]):
        Console(app.test_client()).sign_in(name=spelling, password=WRONG,
                                           environ_base={"REMOTE_ADDR": f"10.0.3.{number}"})
    locked = Console(app.test_client()).sign_in(environ_base={"REMOTE_ADDR": "10.0.3.99"})
    assert locked.status_code == 429


def test_cleanup_deletes_failed_sign_ins_older_than_the_lock_window(app, officer):
    from datetime import datetime, timedelta, timezone

    from bot.store import retention
    from tests.conftest import database

    Console(app.test_client()).sign_in(password=WRONG)
    now = datetime.now(timezone.utc)
    assert retention.cleanup(database(app), app.config, now)["signin_failures"] == 0
    later = now + timedelta(minutes=app.config["SIGNIN_LOCK_MINUTES"] + 1)
    assert retention.cleanup(database(app), app.config, later)["signin_failures"] == 2
    assert rows(app, "SELECT count(*) FROM signin_failures") == [(0,)]


# --- known devices ---------------------------------------------------------------------------

def lock_the_name(app, name=OFFICER):
    """Someone guesses at the account from addresses of their own until its name is locked."""
    for number in range(5):
        Console(app.test_client()).sign_in(name=name, password=WRONG,
                                           environ_base={"REMOTE_ADDR": f"203.0.113.{number}"})
    stranger = Console(app.test_client()).sign_in(
        name=name, environ_base={"REMOTE_ADDR": "203.0.113.200"})
    assert stranger.status_code == 429


def known_browser(app, address="198.51.100.7"):
    """The press officer's own browser, signed in and out once before."""
    console = Console(app.test_client())
    assert console.sign_in(environ_base={"REMOTE_ADDR": address}).status_code == 302
    console.post("/admin/logout", token_page="/admin")
    return console


def test_a_guessed_name_does_not_lock_out_a_browser_that_signed_in_before(app, officer):
    own = known_browser(app)
    cookie = own.client.get_cookie("infokanal_device", path="/admin/login")
    assert cookie is not None and cookie.http_only and cookie.secure
    lock_the_name(app)
    # From the office, or from home: another address, but the same browser.
    response = own.sign_in(environ_base={"REMOTE_ADDR": "192.0.2.55"})
    assert response.status_code == 302
    assert own.client.get("/admin").status_code == 200


def test_a_known_browser_is_still_locked_by_its_address(app, officer):
    own = known_browser(app, address="198.51.100.8")
    for _ in range(5):
        assert own.sign_in(password=WRONG,
                           environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 401
    assert own.sign_in(environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 429


def test_a_browser_known_for_one_account_is_locked_for_another(app, officer):
    app.test_cli_runner().invoke(args=["users", "add", "kollegin", "--password-stdin"],
                                 input="ihr-eigenes-Passwort-9\n")
    own = known_browser(app)
    lock_the_name(app, "kollegin")
    response = own.sign_in("kollegin", "ihr-eigenes-Passwort-9",
                           environ_base={"REMOTE_ADDR": "192.0.2.56"})
    assert response.status_code == 429


def test_a_forged_known_device_cookie_exempts_nothing(app, officer):
    own = known_browser(app)
    genuine = own.client.get_cookie("infokanal_device", path="/admin/login").value
    lock_the_name(app)
    forger = Console(app.test_client())
    forger.client.set_cookie("infokanal_device", genuine[:-2] + "xx", path="/admin/login")
    response = forger.sign_in(environ_base={"REMOTE_ADDR": "192.0.2.57"})
    assert response.status_code == 429
