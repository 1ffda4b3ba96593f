"""Test sends ("Probeversand"): the text goes to the staff phones in TEST_RECIPIENTS and to
nobody else; no broadcast, no counts, nothing public; one audit entry without the numbers."""

import json
import re

import pytest

from bot import create_app
from bot.config import ConfigError
from tests.conftest import OFFICER, OFFICER_PASSWORD, Console, csrf_from, rows

STAFF = ["+4915190000001", "+4915190000002"]


@pytest.fixture
def office(config):
    app = create_app(dict(config, TEST_RECIPIENTS=",".join(f"whatsapp:{n}" for n in STAFF)))
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--role", "editor",
                                       "--password-stdin"], input=OFFICER_PASSWORD + "\n")
    console = Console(app.test_client())
    assert console.sign_in().status_code == 302
    return app, console


def test_a_test_send_from_the_confirmation_reaches_only_the_staff_phones(office, citizen,
                                                                         twilio_api):
    app, console = office
    from tests.conftest import citizens_of

    citizens_of(app.test_client())().send("Start")  # a subscriber, who must get nothing
    confirm = console.post("/admin/compose", {"text": "Probe: Sperrung der B6"})
    html = confirm.get_data(as_text=True)
    assert "Probeversand an 2 Testnummern" in html
    nonce = re.search(r'name="nonce" value="([^"]+)"', html).group(1)
    tested = console.client.post("/admin/compose", data={
        "csrf_token": csrf_from(html), "text": "Probe: Sperrung der B6", "nonce": nonce,
        "action": "test"})
    page = tested.get_data(as_text=True)
    assert tested.status_code == 200 and "Probeversand an 2 Testnummern gesendet" in page
    assert sorted(m["To"] for m in twilio_api.messages) == [f"whatsapp:{n}" for n in STAFF]
    assert {m["Body"] for m in twilio_api.messages} == {"Probe: Sperrung der B6"}
    assert rows(app, "SELECT count(*) FROM broadcasts") == [(0,)]
    [(actor, action, details)] = rows(app, "SELECT actor, action, details FROM audit_log "
                                           "WHERE action = 'broadcast_test_sent'")
    assert (actor, json.loads(details)["recipients"]) == (OFFICER, 2)
    trail = json.dumps(rows(app, "SELECT * FROM audit_log"))
    assert not any(n[3:] in trail for n in STAFF)
    # The confirmation is still there, and its nonce still sends the broadcast once.
    assert f'name="nonce" value="{nonce}"' in page
    asked = console.client.post("/admin/compose", data={
        "csrf_token": csrf_from(page), "text": "Probe: Sperrung der B6", "nonce": nonce,
        "action": "request"})
    assert asked.status_code == 302
    assert rows(app, "SELECT status FROM broadcasts") == [("awaiting_approval",)]


def test_a_stored_draft_can_be_test_sent_from_its_page(office, twilio_api):
    app, console = office
    from bot.store import broadcasts
    from bot.store.db import write
    from tests.conftest import database

    with write(database(app)) as conn:
        draft = broadcasts.create(conn, "Warnung (Entwurf)", draft=True, created_by="nina")[0]
    page = f"/admin/broadcasts/{draft}"
    response = console.post(f"{page}/test", token_page=page)
    assert "Probeversand an 2 Testnummern gesendet" in response.get_data(as_text=True)
    assert len(twilio_api.messages) == 2
    assert rows(app, "SELECT status, recipients FROM broadcasts") == [("draft", 0)]


def test_a_failed_test_message_is_named_masked(office, twilio_api):
    app, console = office
    twilio_api.recipient_errors[STAFF[1]] = (400, 63003)
    confirm = console.post("/admin/compose", {"text": "Probe"}).get_data(as_text=True)
    response = console.client.post("/admin/compose", data={
        "csrf_token": csrf_from(confirm), "text": "Probe", "action": "test"})
    page = response.get_data(as_text=True)
    assert "an 1 Testnummer gesendet" in page and "Nicht angekommen bei: +49151•••" in page
    assert STAFF[1] not in page


def test_without_test_recipients_there_is_no_test_send(console):
    page = console.post("/admin/compose", {"text": "Probe"}).get_data(as_text=True)
    assert "Probeversand" not in page
    response = console.post("/admin/compose", {"text": "Probe", "action": "test"})
    assert "keine Testnummern" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["+4915190000001", "whatsapp:0151", "whatsapp:+49151x"])
def test_test_recipients_must_be_whatsapp_addresses(config, value):
    with pytest.raises(ConfigError, match="TEST_RECIPIENTS") as error:
        create_app(dict(config, TEST_RECIPIENTS=value))
    # Staff phone numbers do not go to the log: the entry is named by its place.
    assert value not in str(error.value) and "entry 1" in str(error.value)
