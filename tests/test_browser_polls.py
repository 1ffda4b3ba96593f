"""A poll in the console, in Debian's Chromium against the Procfile's processes: composed with
two answers, sent, tapped by citizens (signed webhooks), its results on the broadcast's page as
numbers and bars that read without colour (following the taps without a reload), then closed
from there; axe-core at each step, on a desk and on a phone.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.accessibility import check
from tests.conftest import time_bound, wait_for
from tests.test_browser import PHONE, browser  # noqa: F401 - the module's browser
from tests.test_browser_press_office import DESKTOP, contexts, running_office, sign_in  # noqa: F401

POLL_TWO, POLL_THREE = "HX" + "5" * 32, "HX" + "6" * 32
VOTERS = ["+4915170000001", "+4915170000002", "+4915170000003"]


@pytest.fixture(scope="module")
def office(tmp_path_factory, fake_twilio):
    """A deployment whose sender sends polls as the quick-reply contents the fake knows."""
    fake_twilio.reset()
    fake_twilio.quick_replies.update({POLL_TWO: 2, POLL_THREE: 3})
    yield from running_office(tmp_path_factory.mktemp("polls"), fake_twilio,
                              {"paul": "publisher"},
                              POLL_CONTENT_SID=f"2={POLL_TWO},3={POLL_THREE}")


def test_a_poll_is_composed_its_results_shown_and_closed(office, contexts, fake_twilio):
    env, server = office
    with time_bound(90):
        for number in VOTERS:
            assert server.citizen(number).send("Start").status_code == 200
        page = contexts(DESKTOP)
        sign_in(page, server, "paul", "/admin/compose")
        page.get_by_label("Text der Meldung").fill("Soll der Markt länger öffnen?")
        page.get_by_label("Antwort 1").fill("Ja")
        page.get_by_label("Antwort 2").fill("Nein")
        check(page, "(compose with a poll)")
        page.get_by_role("button", name="Weiter zur Bestätigung").click()
        expect(page.locator("#poll-answers")).to_contain_text("Ja · Nein")
        check(page, "(confirmation of a poll)")
        page.get_by_role("button", name="Jetzt senden").click()
        expect(page.get_by_role("heading", name="Umfrage")).to_be_visible()
        broadcast_id = int(re.search(r"/admin/broadcasts/(\d+)", page.url).group(1))
        wait_for(lambda: server.api("GET", f"/api/broadcasts/{broadcast_id}").json()["status"]
                 == "done", timeout=20, message="the poll sent")
        assert not fake_twilio.refused
        for number, answer in zip(VOTERS, (1, 1, 2)):
            title = ("Ja", "Nein")[answer - 1]
            response = server.citizen(number).send(
                title, MessageType="button", ButtonText=title,
                ButtonPayload=f"poll:{broadcast_id}:{answer}")
            assert response.status_code == 200 and "Danke" in response.text

        # The page that was open all along follows the taps by itself.
        live = page.locator("#poll")
        expect(live).to_contain_text("3 Antworten", timeout=15_000)
        expect(live.get_by_role("row", name=re.compile("^Ja"))).to_contain_text("67 %")
        assert page.locator("meter").first.evaluate("m => m.value") == 67

        for viewport in (DESKTOP, PHONE):
            shown = contexts(viewport)
            sign_in(shown, server, "paul", f"/admin/broadcasts/{broadcast_id}")
            results = shown.locator("#poll")
            expect(results).to_contain_text("3 Antworten")
            yes = results.get_by_role("row", name=re.compile("^Ja"))
            expect(yes).to_contain_text("2")
            expect(yes).to_contain_text("67 %")   # the share as text, not only a bar
            expect(results.get_by_role("row", name=re.compile("^Nein"))).to_contain_text("33 %")
            expect(results.locator("meter")).to_have_count(2)
            check(shown, f"(poll results, {viewport['width']} px)")

        page.reload()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Umfrage beenden").click()
        expect(page.get_by_role("heading", name="Umfrage (beendet)")).to_be_visible()
        expect(page.get_by_role("button", name="Umfrage beenden")).to_have_count(0)
        check(page, "(a closed poll)")
        poll = server.api("GET", f"/api/broadcasts/{broadcast_id}").json()["poll"]
        assert poll["closed_at"] and [a["votes"] for a in poll["answers"]] == [2, 1]
