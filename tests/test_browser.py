"""The console and the public page in Debian's Chromium, against the Procfile's processes.

One browser for the module; each test gets its own gunicorn web server, sender and fake Twilio
that sends signed status callbacks back, so the counts rise the way they do in production.
"""

import io
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from tests.accessibility import check
from tests.conftest import OFFICER, OFFICER_PASSWORD, PROCESS_AUTHORITY, ROOT, free_port

DEBIAN_CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
JOIN_LINK = "https://wa.me/4930901820?text=Start"


def chromium_path(which=shutil.which, exists=os.path.exists):
    """Chromium on the PATH, else Debian's; None when neither is there."""
    return which("chromium") or (DEBIAN_CHROMIUM if exists(DEBIAN_CHROMIUM) else None)


def without_browser(environ):
    """No Chromium: a developer's machine may skip these tests; CI and scripts/test may not,
    or a missing browser would pass as green."""
    message = "Debian's chromium is not installed (apt-get install chromium; scripts/test does)"
    if environ.get("CI") or environ.get("INFOKANAL_REQUIRE_BROWSER") == "1":
        pytest.fail(message + "; CI or INFOKANAL_REQUIRE_BROWSER=1 requires it")
    pytest.skip(message)


def test_a_missing_browser_fails_where_it_is_required_and_skips_elsewhere():
    for environ in ({"CI": "true"}, {"INFOKANAL_REQUIRE_BROWSER": "1"}):
        with pytest.raises(pytest.fail.Exception):
            without_browser(environ)
    for environ in ({}, {"INFOKANAL_REQUIRE_BROWSER": "0"}):
        with pytest.raises(pytest.skip.Exception):
            without_browser(environ)


def test_chromium_is_found_on_the_path_or_where_debian_puts_it():
    assert chromium_path(lambda name: "/opt/bin/chromium", lambda path: False) == \
        "/opt/bin/chromium"
    assert chromium_path(lambda name: None, lambda path: path == DEBIAN_CHROMIUM) == \
        DEBIAN_CHROMIUM
    assert chromium_path(lambda name: None, lambda path: False) is None


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        without_browser(os.environ)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=PHONE, locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def site_env(env, twilio_api):
    """Served on a port chosen here, so that PUBLIC_URL (and Twilio's callbacks) point at it."""
    port = free_port()
    twilio_api.callbacks = ["sent", "delivered", "read"]
    return dict(env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}",
                WEB_CONCURRENCY="2")


@pytest.fixture
def server(site_env, start_web):
    web = start_web(site_env)
    add_officer(site_env)
    return web


def add_officer(env):
    """Create the console account the way the operator does: the documented CLI command."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    full_env.update(env)
    full_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full_env["PATH"]
    result = subprocess.run(["flask", "--app", "wsgi", "users", "add", OFFICER,
                             "--password-stdin"], input=OFFICER_PASSWORD + "\n", text=True,
                            capture_output=True, cwd=ROOT, env=full_env, timeout=60)
    assert result.returncode == 0, result.stderr


def sign_in(page, server, target="/admin"):
    page.goto(server.url + target)
    expect(page).to_have_url(f"{server.url}/admin/login?next={target}")
    page.get_by_label("Name").fill(OFFICER)
    page.get_by_label("Passwort").fill(OFFICER_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(server.url + target)
    check(page)


def compose(page, server, text, send_at=None):
    page.goto(server.url + "/admin/compose")
    page.get_by_label("Text der Meldung").fill(text)
    if send_at:
        page.get_by_label("Senden am (optional)").fill(send_at)
    page.get_by_role("button", name="Weiter zur Bestätigung").click()
    expect(page.get_by_role("heading", name="Meldung bestätigen")).to_be_visible()
    check(page, "(confirmation)")


def test_press_officer_sends_a_broadcast_and_watches_the_counts_rise(server, page, site_env,
                                                                      start_worker, twilio_api):
    # The receipts come a moment after the sends, as on the platform: the sending is over
    # before anything is read, and the pages must keep watching closely for the reads.
    twilio_api.callback_delay = 1.5
    for _ in range(3):
        assert server.citizen().send("Start").status_code == 200
    sign_in(page, server)

    page.goto(server.url + "/admin/compose")
    text_box = page.get_by_label("Text der Meldung")
    text_box.fill("Sperrung der B7 😀")
    # The counter counts characters the way WhatsApp does: the emoji is one, not two.
    expect(page.locator("#counter")).to_have_text("17 von 1.600 Zeichen")
    expect(page.locator("#preview-text")).to_have_text("Sperrung der B7 😀")
    text_box.fill("Hochwasser: Die Uferstraße ist ab 14 Uhr gesperrt.")
    page.get_by_role("button", name="Weiter zur Bestätigung").click()
    expect(page.locator("#reach")).to_contain_text("jetzt an 3 Abonnentinnen und Abonnenten")
    page.get_by_role("button", name="Jetzt senden").click()

    expect(page.get_by_role("heading", name="Meldung Nr. 1")).to_be_visible()
    expect(page.locator('[data-count="queued"]')).to_have_text("3")
    # The list in a second tab, opened before anything went out.
    listing = page.context.new_page()
    listing.goto(server.url + "/admin")
    row = listing.locator('li[data-broadcast="1"]')
    expect(row.locator('[data-count="queued"]')).to_have_text("3")
    expect(row.locator("[data-status]")).to_have_text("wartet")
    start_worker(site_env)
    # No reload: the pages' script polls the counts while the sender works and Twilio's
    # callbacks come in. The first wait includes the worker's start, a process of its own.
    expect(page.locator("#status")).to_have_text("gesendet", timeout=20_000)
    expect(row.locator("[data-status]")).to_have_text("gesendet", timeout=5_000)
    expect(page.locator('[data-count="queued"]')).to_have_text("0")
    expect(row.locator('[data-count="queued"]')).to_have_text("0")
    # Sent and over, nothing read yet: the reads come 1.5 s after the sends, and both pages
    # show them within seconds (a page that checked a finished broadcast only every five
    # seconds would not).
    expect(page.locator('[data-count="read"]')).to_have_text("3", timeout=4_000)
    expect(row.locator('[data-count="read"]')).to_have_text("3", timeout=4_000)
    # Counted cumulatively by the script as by the server: what was read was also sent and
    # delivered, so the pages never say "0 sent, 3 read".
    for where in (page, row):
        expect(where.locator('[data-count="sent"]')).to_have_text("3")
        expect(where.locator('[data-count="delivered"]')).to_have_text("3")
    check(listing, "(list)")
    listing.close()
    check(page, "(detail, sent)")

    page.goto(server.url + "/admin/audience")
    expect(page.locator("#active")).to_have_text("3")
    check(page)

    page.goto(server.url + "/")
    expect(page.locator("#meldung-1")).to_contain_text("Die Uferstraße ist ab 14 Uhr gesperrt")
    check(page)
    feed = ET.fromstring(server.session.get(server.url + "/feed.xml").content)
    contents = [el.text for el in feed.iter("{http://www.w3.org/2005/Atom}content")]
    assert contents == ["Hochwasser: Die Uferstraße ist ab 14 Uhr gesperrt."]


def test_press_officer_cancels_a_scheduled_broadcast(server, page):
    server.citizen().send("Start")
    sign_in(page, server, "/admin/compose")
    compose(page, server, "Probealarm am Heiligabend", send_at="2099-12-24T18:00")
    expect(page.locator("#reach")).to_contain_text("24.12.2099, 18:00 Uhr")
    page.get_by_role("button", name="Jetzt planen").click()
    expect(page.locator("#status")).to_have_text("geplant")
    # Not started yet: it is called off ("absagen"), not stopped.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Meldung absagen").click()
    expect(page.locator("#status")).to_have_text("abgebrochen")
    expect(page.get_by_role("button", name="Meldung absagen")).to_have_count(0)
    page.goto(server.url + "/")
    expect(page.get_by_text("Probealarm am Heiligabend")).to_have_count(0)


def test_public_page_on_a_phone_shows_a_scannable_code_and_loads_nothing_foreign(server, page):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(PROCESS_AUTHORITY)
    button = page.get_by_role("link", name="In WhatsApp anmelden")
    expect(button).to_have_attribute("href", JOIN_LINK)
    qr = page.locator(".qr img")
    expect(qr).to_be_visible()
    shot = Image.open(io.BytesIO(qr.screenshot()))
    assert [code.text for code in zxingcpp.read_barcodes(shot)] == [JOIN_LINK]
    # Nothing from the internet: every request went to this server.
    assert requested and all(url.startswith(server.url) for url in requested), requested
    # Mobile-first: nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    check(page)
    page.get_by_role("link", name="Datenschutzhinweis").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Datenschutz")
    check(page)


def test_console_without_session_sends_the_browser_to_sign_in(server, page):
    page.goto(server.url + "/admin/audience")
    expect(page).to_have_url(f"{server.url}/admin/login?next=/admin/audience")
    page.get_by_label("Name").fill(OFFICER)
    page.get_by_label("Passwort").fill("falsch-falsch-falsch")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_have_text("Name oder Passwort stimmt nicht.")
    check(page, "(failed sign-in)")
