"""APPROVAL_REQUIRED: a broadcast composed in the console goes out only after a second
publisher approves it; urgent ones are exempt unless it says ``all``; the API's token never
waits; and what waits reaches nobody until then."""

import re
import shutil

import pytest

from bot import create_app
from bot.config import ConfigError
from tests.conftest import ADMIN_TOKEN, csrf_from, rows, scalar
from tests.test_roles import (DATA_KEY, accounts_database, signed_in,  # noqa: F401 - fixture
                              version_on)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def approving(config, accounts_database, citizen):  # noqa: F811 - the imported fixture
    def make(mode):
        shutil.copy(accounts_database, config["DATABASE_PATH"])
        return create_app(dict(config, DATA_KEY=DATA_KEY, APPROVAL_REQUIRED=mode))
    return make


def compose_and_send(console, text, **fields):
    confirm = console.post("/admin/compose", dict(text=text, **fields))
    html = confirm.get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', html).group(1)
    action = "request" if 'id="request"' in html else "send"
    response = console.client.post("/admin/compose", data=dict(
        csrf_token=csrf_from(html), text=text, nonce=nonce, action=action, **fields))
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    return int(response.headers["Location"].rsplit("/", 1)[1]), html


def approve(console, page):
    """Press "Freigeben und senden" on the broadcast's page, as it shows it now."""
    return console.post(f"{page}/approve", {"version": version_on(console, page)},
                        token_page=page)


def subscribe(app, n=3):
    from tests.conftest import citizens_of

    citizen = citizens_of(app.test_client())
    for _ in range(n):
        assert citizen().send("Start").status_code == 200


def test_a_publishers_broadcast_waits_for_a_second_publisher(approving):
    app = approving("1")
    subscribe(app)
    paul = signed_in(app, "paul")
    broadcast_id, confirm = compose_and_send(paul, "Sperrung der Kreisstraße 12")
    assert "Zur Freigabe vorlegen" in confirm and "Jetzt senden" not in confirm
    assert rows(app, "SELECT status, requested_by FROM broadcasts") == [
        ("awaiting_approval", "paul")]
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0, "nobody gets it yet"
    page = f"/admin/broadcasts/{broadcast_id}"
    # The one who asked cannot approve: no button, and the server refuses the request.
    assert 'id="approve"' not in paul.client.get(page).get_data(as_text=True)
    refused = paul.post(f"{page}/approve", token_page=page)
    assert refused.status_code == 403
    assert scalar(app, "SELECT status FROM broadcasts") == "awaiting_approval"
    listing = signed_in(app, "petra").client.get("/admin").get_data(as_text=True)
    assert "wartet auf Freigabe" in listing and "angefragt von paul" in listing
    petra = signed_in(app, "petra")
    assert approve(petra, page).status_code == 302
    assert rows(app, "SELECT status, approved_by, recipients FROM broadcasts") == [
        ("queued", "petra", 3)]
    assert scalar(app, "SELECT count(*) FROM deliveries") == 3
    assert [action for (action,) in rows(
        app, "SELECT action FROM audit_log WHERE target = ? ORDER BY id",
        f"broadcast:{broadcast_id}")] == ["broadcast_created", "broadcast_approved"]


def test_urgent_broadcasts_are_exempt_unless_approval_is_required_for_all(approving):
    app = approving("1")
    subscribe(app, 1)
    compose_and_send(signed_in(app, "paul"), "Unwetter", urgent="1")
    assert scalar(app, "SELECT status FROM broadcasts") == "queued"
    strict = approving("all")
    compose_and_send(signed_in(strict, "paul"), "Unwetter", urgent="1")
    assert scalar(strict, "SELECT status FROM broadcasts") == "awaiting_approval"


def test_the_api_token_is_not_a_person_and_never_waits(approving):
    app = approving("all")
    response = app.test_client().post("/api/broadcasts", json={"text": "Von der Leitstelle"},
                                      headers=AUTH)
    assert response.status_code == 202 and response.json["status"] == "queued"


def test_without_the_setting_an_editors_request_is_approved_by_any_publisher(approving):
    app = approving("0")
    erika = signed_in(app, "erika")
    broadcast_id, confirm = compose_and_send(erika, "Stellenangebot")
    assert "Eine Person mit der Rolle" in confirm
    page = f"/admin/broadcasts/{broadcast_id}"
    paul = signed_in(app, "paul")
    assert 'id="approve"' in paul.client.get(page).get_data(as_text=True)
    assert approve(paul, page).status_code == 302
    assert scalar(app, "SELECT status FROM broadcasts") == "queued"


def test_a_refused_request_is_a_draft_again_and_can_be_asked_for_again(approving):
    app = approving("1")
    broadcast_id, _ = compose_and_send(signed_in(app, "erika"), "Erster Versuch")
    page = f"/admin/broadcasts/{broadcast_id}"
    signed_in(app, "paul").post(f"{page}/reject", token_page=page)
    assert rows(app, "SELECT status, requested_by FROM broadcasts") == [("draft", None)]
    erika = signed_in(app, "erika")
    erika.post(f"{page}/draft", {"text": "Zweiter Versuch", "action": "request"},
               token_page=page)
    assert rows(app, "SELECT status, text, requested_by FROM broadcasts") == [
        ("awaiting_approval", "Zweiter Versuch", "erika")]
    actions = [a for (a,) in rows(app, "SELECT action FROM audit_log WHERE target = ? "
                                       "ORDER BY id", f"broadcast:{broadcast_id}")]
    assert actions == ["broadcast_created", "broadcast_rejected", "broadcast_edited",
                       "broadcast_approval_requested"]


def test_a_planned_broadcast_changed_after_approval_waits_again(approving):
    app = approving("1")
    broadcast_id, _ = compose_and_send(signed_in(app, "paul"), "Termin",
                                       send_at="2099-06-01T10:00")
    page = f"/admin/broadcasts/{broadcast_id}"
    petra = signed_in(app, "petra")
    assert approve(petra, page).status_code == 302
    assert scalar(app, "SELECT status FROM broadcasts") == "scheduled"
    petra.post(f"{page}/edit", {"text": "Termin verschoben", "send_at": "2099-06-02T10:00"},
               token_page=page)
    assert rows(app, "SELECT status, text, requested_by, approved_by FROM broadcasts") == [
        ("awaiting_approval", "Termin verschoben", "petra", None)]
    # Changed by someone other than its author: marked, as a changed draft is.
    assert scalar(app, "SELECT edited_by FROM broadcasts") == "petra"


@pytest.mark.parametrize("value, mode", [("", "off"), ("0", "off"), ("1", "on"), ("ja", "on"),
                                         ("all", "all"), ("ALL", "all")])
def test_approval_required_reads_off_on_and_all(config, value, mode):
    assert create_app(dict(config, APPROVAL_REQUIRED=value)).config["APPROVAL_REQUIRED"] == mode


def test_an_approval_setting_that_cannot_be_meant_stops_the_start(config):
    with pytest.raises(ConfigError, match="APPROVAL_REQUIRED"):
        create_app(dict(config, APPROVAL_REQUIRED="maybe"))


def test_an_approval_is_for_the_version_the_approver_saw(approving):
    """The attack: an editor asks for approval of a harmless text; the publisher opens it; the
    editor takes the request back, writes something else and asks again; the publisher's
    click, on the page of the harmless text, must not send the other one."""
    app = approving("1")
    subscribe(app)
    erika = signed_in(app, "erika")
    broadcast_id, _ = compose_and_send(erika, "Straßenfest am Samstag")
    page = f"/admin/broadcasts/{broadcast_id}"
    paul = signed_in(app, "paul")
    seen = paul.client.get(page).get_data(as_text=True)
    assert "Straßenfest am Samstag" in seen
    shown_version = re.search(r'name="version" value="([0-9a-f]{64})"', seen)
    seen_form = {"csrf_token": csrf_from(seen),
                 "version": shown_version.group(1) if shown_version else ""}

    assert erika.post(f"{page}/reject", token_page=page).status_code == 302
    forged = "EVAKUIERUNG SOFORT! Verlassen Sie sofort Ihre Wohnung."
    erika.post(f"{page}/draft", {"text": forged, "action": "request"}, token_page=page)
    assert rows(app, "SELECT status, text FROM broadcasts") == [("awaiting_approval", forged)]

    clicked = paul.client.post(f"{page}/approve", data=seen_form)
    assert clicked.status_code == 409
    shown = clicked.get_data(as_text=True)
    assert "Der Text wurde geändert, seit Sie ihn geöffnet haben" in shown
    assert forged in shown, "the page shows the version there is now"
    fresh = re.search(r'name="version" value="([0-9a-f]{64})"', shown).group(1)
    assert fresh != seen_form["version"], "and a form for it"
    assert rows(app, "SELECT status, approved_by FROM broadcasts") == [
        ("awaiting_approval", None)]
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0, "nothing queued"
    assert scalar(app, "SELECT count(*) FROM audit_log WHERE action = 'broadcast_approved'") == 0

    # Having seen it, the publisher decides on what is there now.
    approved = paul.client.post(f"{page}/approve", data=dict(seen_form, version=fresh))
    assert approved.status_code == 302
    assert rows(app, "SELECT status, approved_by, text FROM broadcasts") == [
        ("queued", "paul", forged)]
    assert scalar(app, "SELECT count(*) FROM deliveries") == 3


def test_an_approval_that_names_no_version_is_refused(approving):
    app = approving("1")
    subscribe(app)
    broadcast_id, _ = compose_and_send(signed_in(app, "erika"), "Straßenfest am Samstag")
    page = f"/admin/broadcasts/{broadcast_id}"
    paul = signed_in(app, "paul")
    for form in ({}, {"version": ""}, {"version": "0" * 64}):
        response = paul.post(f"{page}/approve", form, token_page=page)
        assert response.status_code in (400, 409), form
        assert "Freigegeben wurde nichts" in response.get_data(as_text=True) or \
            "wurde nicht erteilt" in response.get_data(as_text=True)
    assert rows(app, "SELECT status, approved_by FROM broadcasts") == [
        ("awaiting_approval", None)]
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0
    # Unchanged, the version on the page is approved.
    assert approve(paul, page).status_code == 302
    assert scalar(app, "SELECT count(*) FROM deliveries") == 3


@pytest.mark.parametrize("column, value", [
    ("text", "Anderer Text"), ("media_url", "https://example.org/anders.jpg"), ("urgent", 1),
    ("send_at", "2099-01-02T10:00:00.000000Z"), ("expires_at", "2099-01-03T10:00:00.000000Z"),
    ("topics", '["verkehr"]'), ("translations", '{"en": "Other text"}'), ("public", 0)])
def test_every_field_that_changes_what_citizens_get_changes_the_version(app, column, value):
    """What the approve form's version covers: each of these changed in the row makes the
    version the approver saw a different one."""
    from bot.domain import approval
    from bot.store import broadcasts
    from bot.store.db import write
    from tests.conftest import database

    with write(database(app)) as conn:
        broadcast_id = broadcasts.create(conn, "Text", send_at="2099-01-01T10:00:00.000000Z",
                                         awaiting_approval_of="erika",
                                         translations={"en": "Text"})[0]
        before = approval.version(broadcasts.get(conn, broadcast_id))
        conn.execute(f"UPDATE broadcasts SET {column} = ? WHERE id = ?", (value, broadcast_id))
        assert approval.version(broadcasts.get(conn, broadcast_id)) != before
