"""The monthly budget and the month in numbers in Debian's Chromium against the Procfile's
processes: a publisher's broadcast over the budget waits for an admin (the confirmation page
says why), the admin approves it, and the costs page shows what was delivered, at a desk
(1280 px) and on a phone (390 px); axe-core at each step.

Its own web server and sender (a budget smaller than one broadcast), two accounts, three
subscribers.
"""

import pytest
from playwright.sync_api import expect

from tests.accessibility import check
from tests.test_browser import PHONE, browser  # noqa: F401 - the module's browser
from tests.test_browser_console_pages import no_sideways_scroll
from tests.test_browser_press_office import (DESKTOP, contexts,  # noqa: F401
                                             running_office, sign_in)

ACCOUNTS = {"anna": "admin", "paul": "publisher"}


@pytest.fixture(scope="module")
def office(tmp_path_factory, fake_twilio):
    """(environment, web server) for the module; its sender runs beside it."""
    yield from running_office(
        tmp_path_factory.mktemp("budget"), fake_twilio, ACCOUNTS, PRICE_MARKETING="0.1",
        PRICE_SERVICE="0.01", PLATFORM_FEE="0.005", MONTHLY_BUDGET="0.2")


@pytest.fixture(autouse=True)
def platform(fake_twilio):
    fake_twilio.reset()
    fake_twilio.callbacks = ["sent", "delivered"]
    return fake_twilio


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_over_the_budget_a_publisher_asks_an_admin_and_the_month_shows_it(office, contexts,
                                                                         viewport, tmp_path):
    env, server = office
    width = viewport["width"]
    text = f"Sperrung der Kreisstraße 12 ({width})"
    paul = contexts(viewport)
    sign_in(paul, server, "paul", "/admin/compose")
    paul.get_by_label("Text der Meldung").fill(text)
    paul.get_by_role("button", name="Weiter zur Bestätigung").click()
    note = paul.locator("#budget-note")
    expect(note).to_contain_text("Über dem Monatsbudget")
    expect(note).to_contain_text("Administration")
    expect(paul.get_by_role("button", name="Jetzt senden")).to_have_count(0)
    check(paul, f"(confirmation over the budget at {width}px)")
    no_sideways_scroll(paul, width)
    paul.get_by_role("button", name="Der Administration zur Freigabe vorlegen").click()
    expect(paul.locator("#budget-hold")).to_be_visible()
    expect(paul.get_by_role("button", name="Freigeben und senden")).to_have_count(0)
    check(paul, f"(waiting for an admin at {width}px)")
    page_url = paul.url

    anna = contexts(viewport)
    sign_in(anna, server, "anna")
    card = anna.locator("li.broadcast", has_text=text)
    expect(card.locator(".over-budget")).to_have_text("über dem Monatsbudget")
    anna.goto(page_url)
    anna.once("dialog", lambda dialog: dialog.accept())
    anna.get_by_role("button", name="Freigeben und senden").click()
    expect(anna.locator("#status")).not_to_have_text("wartet auf Freigabe")
    anna.get_by_role("navigation", name="Konsole").get_by_role("link", name="Kosten").click()
    expect(anna.get_by_role("heading", level=1)).to_contain_text("Kosten im Monat")
    broadcast_id = page_url.rsplit("/", 1)[1]
    row = anna.locator("#per-broadcast tr", has=anna.get_by_role("link", name=f"Nr. {broadcast_id}"))

    def delivered():
        anna.reload()
        return row.count() == 1 and "3" in row.locator('[data-label="Nachrichten"]').inner_text()

    for _ in range(100):
        if delivered():
            break
        anna.wait_for_timeout(200)
    expect(row.locator('[data-label="Nachrichten"]')).to_have_text("3")
    expect(row.locator(".over-budget")).to_be_visible()
    expect(anna.locator("#month-total")).to_contain_text("überschritten um")
    anna.screenshot(path=str(tmp_path / f"costs-{width}.png"), full_page=True)
    no_sideways_scroll(anna, width)
    check(anna, f"(costs at {width}px)")
    anna.get_by_label("Monat").fill("2020-01")
    anna.get_by_role("button", name="Anzeigen").click()
    expect(anna.locator("#nothing")).to_be_visible()
    check(anna, f"(costs of an empty month at {width}px)")
