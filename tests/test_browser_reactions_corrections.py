"""A sent broadcast's page in Debian's Chromium, against the Procfile's processes: its
citizens' reactions counted ("👍 2 · ❤️ 1"), and a correction written in its "Berichtigung"
form, sent to those it reached; axe-core on each page on the way."""

import pytest
from playwright.sync_api import expect

from tests.accessibility import check
from tests.test_browser import browser  # noqa: F401 - the module's browser
from tests.test_browser_press_office import (DESKTOP, contexts, detail_id,  # noqa: F401
                                             running_office, sign_in)


@pytest.fixture(scope="module")
def office(tmp_path_factory, fake_twilio):
    """One publisher, three subscribers, the sender beside the web server."""
    yield from running_office(tmp_path_factory.mktemp("feedback"), fake_twilio,
                              {"paul": "publisher"})


def test_a_publisher_reads_the_reactions_and_sends_a_correction(office, contexts,  # noqa: F811
                                                                fake_twilio):
    env, server = office
    fake_twilio.reset()
    original = server.api("POST", "/api/broadcasts", json={
        "text": "Die Kreisstraße 12 ist ab Montag gesperrt."}).json()["id"]
    page = contexts(DESKTOP)
    sign_in(page, server, "paul", f"/admin/broadcasts/{original}")
    expect(page.locator("#status")).to_have_text("gesendet")
    sent = [(m["To"].removeprefix("whatsapp:"), m["sid"]) for m in list(fake_twilio.messages)]
    assert len(sent) == 3
    for (number, sid), emoji in zip(sent, ("👍", "👍", "❤️")):
        response = server.citizen(number).send(emoji, MessageType="reaction",
                                               OriginalRepliedMessageSid=sid)
        assert response.status_code == 200 and "<Message>" not in response.text
    page.reload()
    expect(page.locator("#reactions")).to_have_text("👍 2 · ❤️ 1")
    expect(page.get_by_role("heading", name="Berichtigung")).to_be_visible()
    check(page, "(sent, with reactions and the correction form)")
    page.get_by_label("Was ist richtig?").fill("Die Sperrung beginnt erst am Dienstag.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Berichtigung senden").click()
    expect(page.locator("#corrects")).to_contain_text(f"Meldung Nr. {original}")
    correction = detail_id(page)
    assert correction != original
    expect(page.locator("#status")).to_have_text("gesendet")
    check(page, "(a correction)")
    corrected = [m for m in list(fake_twilio.messages) if m["Body"].startswith("Berichtigung:")]
    assert sorted(m["To"] for m in corrected) == sorted(f"whatsapp:{n}" for n, _ in sent)
