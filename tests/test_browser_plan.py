"""A press officer reads a broadcast's plan on the confirmation page, in Debian's Chromium
against the Procfile's web process: whom it reaches in which language, when the last message
goes out, how many WhatsApp lets the number reach today, the cost and the month against its
budget, and the warnings as an alert; axe-core finds nothing on a wide screen or a phone.
"""

import re

import pytest
from playwright.sync_api import expect

from bot import create_app
from bot.vault import new_key
from tests.accessibility import check
from tests.conftest import ADMIN_TOKEN, COUNTY_NUMBER, PROCESS_AUTHORITY, WebServer, free_port
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.test_browser import PHONE, browser  # noqa: F401 - the module's browser

PASSWORD = "ein-langes-Passwort-1"
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def county(tmp_path_factory, fake_twilio):
    """A web server for a county that set prices, a fee, WhatsApp's lowest daily limit and a
    small budget, with four subscribers (one reading English)."""
    directory = tmp_path_factory.mktemp("plan-page")
    port = free_port()
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": COUNTY_NUMBER, "TWILIO_API_URL": fake_twilio.url,
        "PUBLIC_URL": f"http://127.0.0.1:{port}", "PORT": str(port), "ADMIN_TOKEN": ADMIN_TOKEN, "DATA_KEY": new_key(),
        "DATABASE_PATH": str(directory / "infokanal.db"), "AUTHORITY_NAME": PROCESS_AUTHORITY,
        "CONTACT_INFO": "Bürgertelefon 0800 123 456", "LANGUAGES": "de,en",
        "SEND_RATE_LIMIT": "80", "PRICE_MARKETING": "0.041", "PLATFORM_FEE": "0.005",
        "MESSAGING_LIMIT_24H": "3", "MONTHLY_BUDGET": "0.10", "WEB_CONCURRENCY": "1"}
    # An admin: over the small budget a publisher's broadcast waits for one
    # (tests/test_browser_budget.py); an admin sends it, knowingly.
    result = create_app(dict(env)).test_cli_runner().invoke(
        args=["users", "add", "paul", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    server = WebServer(env)
    try:
        for _ in range(3):
            assert server.citizen().send("Start").status_code == 200
        english = server.citizen()
        assert english.send("Subscribe").status_code == 200
        assert english.send("English").status_code == 200
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser):  # noqa: F811 - the module's browser
    context = browser.new_context(viewport=DESKTOP, locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_the_officer_reads_the_plan_and_axe_finds_nothing_on_desktop_and_phone(county, page):
    page.goto(county.url + "/admin/login?next=/admin/compose")
    page.get_by_label("Name").fill("paul")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.get_by_label("Text der Meldung").fill("Die B7 ist ab Montag gesperrt.")
    page.get_by_label("Text auf English (optional)").fill("The B7 is closed from Monday.")
    page.get_by_role("button", name="Weiter zur Bestätigung").click()

    plan = page.get_by_role("region", name="Was beim Senden passiert")
    expect(plan).to_be_visible()
    expect(plan.locator("#reach")).to_have_text(re.compile(
        r"Diese Meldung geht jetzt an 4 Abonnentinnen und Abonnenten "
        r"\(3 auf Deutsch, 1 auf English\)\."))
    expect(plan.locator("#plan-time")).to_have_text(re.compile(
        r"^Die letzte Nachricht geht voraussichtlich um \d\d:\d\d Uhr hinaus, also sofort\.$"))
    expect(plan.locator("#plan-reach")).to_have_text(re.compile(
        r"^Heute erreichbar: 3 von 4 – WhatsApp begrenzt, .* der Rest morgen ab \d\d:\d\d Uhr\.$"))
    expect(plan.locator("#plan-cost")).to_have_text(
        "Kosten: ca. 0,18 € (Kategorie Marketing, 0,046 € je Nachricht, darin je 0,005 € "
        "Gebühr des Anbieters).")
    # So far the five answers to the citizens, each at PRICE_SERVICE (0) with the fee.
    expect(plan.locator("#plan-month")).to_have_text(
        "Diesen Monat: ca. 0,03 € von 0,10 € Budget; danach ca. 0,21 € – 0,11 € über dem "
        "Budget.")
    # The warnings are an alert, titled in words: not told by their colour alone.
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Bitte beachten Sie vor dem Senden:")
    expect(alert.get_by_role("listitem")).to_have_count(2)
    expect(alert).to_contain_text("Monatsbudget")
    # Above the send button, read before it in the page's order.
    assert page.evaluate("document.querySelector('#plan').compareDocumentPosition("
                         "document.querySelector('#send')) & Node.DOCUMENT_POSITION_FOLLOWING")
    check(page, "(confirmation with its plan, desktop)")
    page.set_viewport_size(PHONE)
    # On a phone the plan fits the width: nothing to scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    check(page, "(confirmation with its plan, phone)")
