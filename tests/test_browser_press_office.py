"""The press office at work, in Debian's Chromium against the Procfile's processes: each role
through what it may and may not do, approval by a second publisher, a picture uploaded and sent
without its metadata, a test send, a broadcast taken off the public page, the cost line; and
axe-core on every console and public page on the way.

One web server and one sender for the module (with APPROVAL_REQUIRED=1, staff test phones and a
price per message), four accounts, three subscribers; each test has its own browser context.
The last test checks that the audit trail of everything done here verifies, and stops
verifying once an entry is changed in the database.
"""

import io
import os
import re
import sqlite3
import subprocess
import sys

import pytest
import requests
from PIL import Image
from playwright.sync_api import expect

from bot import create_app
from bot.vault import new_key
from tests import accessibility, media_files
from tests.accessibility import check
from tests.conftest import (ADMIN_TOKEN, COUNTY_NUMBER, PROCESS_AUTHORITY, ROOT, Process,
                            WebServer, counts_disagreeing, free_port)
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.test_browser import PHONE, browser  # noqa: F401 - the module's browser
from tests.test_media import assert_clean, phone_photo

PASSWORD = "ein-langes-Passwort-1"
ACCOUNTS = {"anna": "admin", "paul": "publisher", "petra": "publisher", "erika": "editor"}
STAFF = ["+4915190000011", "+4915190000012"]
DESKTOP = {"width": 1280, "height": 800}


def running_office(directory, fake_twilio, accounts, **settings):
    """Yield (environment, web server) of a deployment with its sender, ``accounts`` ({name:
    role}) made with PASSWORD and three subscribers; ``settings`` add to or replace the
    environment. Stopped after the yield, and its counts must agree then."""
    port = free_port()
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": COUNTY_NUMBER, "TWILIO_API_URL": fake_twilio.url,
        "PUBLIC_URL": f"http://127.0.0.1:{port}", "PORT": str(port), "ADMIN_TOKEN": ADMIN_TOKEN,
        "DATA_KEY": new_key(), "DATABASE_PATH": str(directory / "infokanal.db"),
        "AUTHORITY_NAME": PROCESS_AUTHORITY, "CONTACT_INFO": "Bürgertelefon 0800 123 456",
        "SEND_RATE_LIMIT": "500", "SENDER_POLL_SECONDS": "0.05", "WEB_CONCURRENCY": "2",
        **settings}
    runner = create_app(dict(env)).test_cli_runner()
    for name, role in accounts.items():
        result = runner.invoke(args=["users", "add", name, "--role", role, "--password-stdin"],
                               input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
    server = WebServer(env)
    worker = Process("worker", env)
    try:
        for _ in range(3):
            assert server.citizen().send("Start").status_code == 200
        yield env, server
    finally:
        worker.stop()
        server.stop()
    assert counts_disagreeing(env["DATABASE_PATH"]) == []


@pytest.fixture(scope="module")
def office(tmp_path_factory, fake_twilio):
    """(environment, web server) for the module; its sender runs beside it."""
    yield from running_office(
        tmp_path_factory.mktemp("press-office"), fake_twilio, ACCOUNTS, APPROVAL_REQUIRED="1",
        TEST_RECIPIENTS=",".join(f"whatsapp:{n}" for n in STAFF), PRICE_PER_MESSAGE="0.045")


@pytest.fixture(autouse=True)
def platform(fake_twilio):
    """The fake platform, emptied for each test, answering with status callbacks."""
    fake_twilio.reset()
    fake_twilio.callbacks = ["sent", "delivered", "read"]
    return fake_twilio


@pytest.fixture
def contexts(browser):  # noqa: F811 - the module's browser
    """New browser contexts (one per person) on demand, closed at the end of the test."""
    opened = []

    def new(viewport=PHONE):
        context = browser.new_context(viewport=viewport, locale="de-DE",
                                      timezone_id="Europe/Berlin")
        context.set_default_timeout(15_000)
        opened.append(context)
        page = context.new_page()
        # Every request the page makes must be answered: a missing favicon, a stylesheet…
        page.missing = []
        page.on("response", lambda response: response.status == 404
                and page.missing.append(response.url))
        return page

    yield new
    for context in opened:
        context.close()


def sign_in(page, server, name, target="/admin"):
    page.goto(server.url + target)
    if target != "/admin/login":
        expect(page).to_have_url(f"{server.url}/admin/login?next={target}")
    check(page)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(server.url + target)
    check(page)


def compose(page, server, text, picture=None, urgent=False):
    page.goto(server.url + "/admin/compose")
    page.get_by_label("Text der Meldung").fill(text)
    if picture is not None:
        page.get_by_label("Bild, Video oder PDF (optional)").set_input_files(
            files=[{"name": "foto.jpg", "mimeType": "image/jpeg", "buffer": picture}])
        expect(page.locator("#preview-picture")).to_be_visible()
    if urgent:
        page.get_by_label("Eilmeldung: vor anderen Meldungen senden").check()
    check(page, "(compose)")
    page.get_by_role("button", name="Weiter zur Bestätigung").click()
    expect(page.get_by_role("heading", name="Meldung bestätigen")).to_be_visible()
    check(page, "(confirmation)")


def detail_id(page):
    return int(re.search(r"/admin/broadcasts/(\d+)$", page.url).group(1))


def test_an_editor_writes_tests_and_asks_for_approval_but_never_sends(office, contexts,
                                                                      platform):
    env, server = office
    page = contexts()
    sign_in(page, server, "erika")
    nav = page.get_by_role("navigation", name="Konsole")
    expect(nav.get_by_role("link", name="Protokoll")).to_have_count(0)
    expect(nav.get_by_role("link", name="Konten")).to_have_count(0)
    compose(page, server, "Die Brücke in Lilienthal ist ab Montag gesperrt.", phone_photo())
    # The picture the platform will fetch, already cleaned, in the preview.
    expect(page.locator("#preview-picture")).to_have_attribute(
        "src", re.compile(r"^/media/[0-9a-f]{32}\.jpg$"))
    expect(page.locator("#plan-cost")).to_have_text(
        "Kosten: ca. 0,14 € (Kategorie Marketing, 0,045 € je Nachricht).")
    expect(page.get_by_role("button", name="Jetzt senden")).to_have_count(0)
    expect(page.locator("#approval-note")).to_contain_text("Ihr Konto sendet nicht selbst")
    expect(page.get_by_label("Auf der öffentlichen Seite und im Nachrichten-Feed zeigen")) \
        .to_be_checked()
    expect(page.locator("#public-hint")).to_contain_text("für alle lesbar auf der öffentlichen")

    page.get_by_role("button", name="Probeversand an 2 Testnummern").click()
    expect(page.locator("#test-result")).to_contain_text("Probeversand an 2 Testnummern gesendet")
    check(page, "(after the test send)")
    assert sorted(m["To"] for m in platform.messages) == [f"whatsapp:{n}" for n in STAFF]
    assert all(m["MediaUrl"] and m["MediaUrl"][0].startswith(f"{server.url}/media/")
               for m in platform.messages)
    listed = server.api("GET", "/api/broadcasts").json()["broadcasts"]
    assert not any(b["text"].startswith("Die Brücke") for b in listed), "a test is no broadcast"

    page.get_by_role("button", name="Zur Freigabe vorlegen").click()
    expect(page.locator("#status")).to_have_text("wartet auf Freigabe")
    expect(page.get_by_role("button", name="Freigeben und senden")).to_have_count(0)
    expect(page.get_by_role("button", name="Meldung abbrechen")).to_have_count(0)
    check(page, "(awaiting approval)")
    # Asked for by URL, what the role may not do is refused by the server.
    page.goto(server.url + "/admin/audit")
    expect(page.get_by_role("heading", name="Nicht erlaubt")).to_be_visible()
    check(page, "(refused)")
    assert page.missing == []


def test_a_second_publisher_approves_and_the_picture_arrives_without_its_metadata(
        office, contexts, platform):
    env, server = office
    paul = contexts()
    sign_in(paul, server, "paul")
    compose(paul, server, "Hochwasser: Die Wümmewiesen sind überflutet.", phone_photo())
    expect(paul.get_by_role("button", name="Jetzt senden")).to_have_count(0)
    paul.get_by_role("button", name="Zur Freigabe vorlegen").click()
    expect(paul.locator("#status")).to_have_text("wartet auf Freigabe")
    expect(paul.locator("#second-person")).to_contain_text("zweite Person")
    expect(paul.get_by_role("button", name="Freigeben und senden")).to_have_count(0)
    broadcast_id = detail_id(paul)
    check(paul, "(own request)")

    petra = contexts(DESKTOP)
    sign_in(petra, server, "petra")
    expect(petra.locator("#awaiting")).to_contain_text("angefragt von paul")
    petra.locator("#awaiting").get_by_role("link", name=re.compile(f"Nr. {broadcast_id}")).click()
    expect(petra.locator("#approval-box")).to_contain_text("ca. 0,14 € für 3 Nachrichten")
    petra.once("dialog", lambda dialog: dialog.accept())
    petra.get_by_role("button", name="Freigeben und senden").click()
    # No reload from here on: the page follows the sender and the platform's receipts, and
    # says when it is over.
    expect(petra.locator('[data-count="read"]')).to_have_text("3")
    expect(petra.locator("#status")).to_have_text("gesendet")
    expect(petra.locator("#finished")).to_be_visible()
    expect(petra.locator("#finished-at")).to_have_text(re.compile(r"\d\d\.\d\d\.\d{4}, "))
    expect(petra.get_by_role("button", name="Meldung abbrechen")).to_be_hidden()
    expect(petra.locator("#approval")).to_contain_text("freigegeben von petra")
    check(petra, "(sent)")

    sent = [m for m in platform.messages if m.get("Body", "").startswith("Hochwasser")]
    assert len(sent) == 3
    [url] = {m["MediaUrl"][0] for m in sent}
    assert url.startswith(f"{server.url}/media/")
    fetched = requests.get(url, timeout=10)  # as the platform fetches it: no sign-in
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "image/jpeg"
    assert_clean(fetched.content)
    original = Image.open(io.BytesIO(phone_photo()))
    assert original.getexif().get_ifd(0x8825), "the upload did carry a location"

    public = contexts()
    public.goto(server.url + "/")
    expect(public.locator(f"#meldung-{broadcast_id}")).to_contain_text("Wümmewiesen")
    check(public, "(public page)")
    assert paul.missing == [] and petra.missing == [] and public.missing == []


def test_a_video_and_a_pdf_are_previewed_before_sending(office, contexts, tmp_path):
    """The confirmation shows the video with its first frame as poster, and the PDF by its name,
    pages and size; both pass axe."""
    env, server = office
    paul = contexts(DESKTOP)
    sign_in(paul, server, "paul")
    for data, name, mime, shown in (
            (media_files.mp4(tmp_path), "Einsatz.mp4", "video/mp4", "#preview-video"),
            (media_files.pdf(pages=3), "Aushang Kreis.pdf", "application/pdf",
             "#preview-document")):
        paul.goto(server.url + "/admin/compose")
        paul.get_by_label("Text der Meldung").fill("Mit Anhang")
        paul.get_by_label("Bild, Video oder PDF (optional)").set_input_files(
            files=[{"name": name, "mimeType": mime, "buffer": data}])
        # Not taken for a picture before it is uploaded.
        expect(paul.locator("#preview-picture")).to_have_count(0)
        paul.get_by_role("button", name="Weiter zur Bestätigung").click()
        expect(paul.get_by_role("heading", name="Meldung bestätigen")).to_be_visible()
        expect(paul.locator(shown)).to_be_visible()
        check(paul, f"(confirmation with {mime})")
        if mime == "video/mp4":
            # Shown, so fetched: a missing poster would be in paul.missing.
            poster = paul.locator(shown).get_attribute("poster")
    expect(paul.locator("#preview-document")).to_contain_text("Aushang Kreis.pdf")
    expect(paul.locator("#preview-document")).to_contain_text("PDF, 3 Seiten, ")
    assert poster.endswith("-poster.jpg")
    assert paul.missing == []


def test_a_publisher_takes_a_sent_broadcast_off_the_public_page(office, contexts):
    env, server = office
    page = contexts()
    sign_in(page, server, "paul")
    # Urgent: exempt from approval at APPROVAL_REQUIRED=1, so the publisher sends it himself.
    compose(page, server, "Eilmeldung: Trinkwasser bitte abkochen.", urgent=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Jetzt senden").click()
    expect(page.locator("#status")).to_have_text("gesendet")
    broadcast_id = detail_id(page)
    public = contexts()
    public.goto(server.url + "/")
    expect(public.locator(f"#meldung-{broadcast_id}")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Von der öffentlichen Seite entfernen").click()
    expect(page.get_by_role("button", name="Wieder öffentlich zeigen")).to_be_visible()
    check(page, "(kept off the public page)")
    public.reload()
    expect(public.locator(f"#meldung-{broadcast_id}")).to_have_count(0)
    check(public)
    feed = server.session.get(server.url + "/feed.xml").text
    assert "Trinkwasser" not in feed


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "phone"])
def test_the_list_is_readable_on_a_wide_screen_and_on_a_phone(office, contexts, viewport):
    env, server = office
    page = contexts(viewport)
    sign_in(page, server, "paul")
    cards = page.locator("li.broadcast")
    expect(cards.first).to_be_visible()
    width = viewport["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scroll"
    for index in range(cards.count()):
        card = cards.nth(index)
        for figure in card.locator("dd").all():
            box = figure.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, "every count shows"
        text = card.locator(".text").bounding_box()
        # A line of text, not a word per line.
        assert text["width"] >= min(width * 0.6, 600)
    expect(page.get_by_role("heading", name=re.compile(r"^Die letzte(n \d+ Meldungen| Meldung)$"))) \
        .to_be_visible()
    check(page, f"(list at {width}px)")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "phone"])
def test_the_footer_lines_up_with_the_pages_text(office, contexts, viewport, tmp_path):
    """The footer's links start where the page's text starts, on the citizens' pages and in
    the console, wide and narrow; the privacy notice names the authority as the start page
    does."""
    env, server = office
    sent = server.api("POST", "/api/broadcasts", json={
        "text": "Fußzeile und Zahlen", "public": False}).json()["id"]
    page = contexts(viewport)
    sign_in(page, server, "paul")
    for path in ("/", "/datenschutz", "/admin", "/admin/audience", "/admin/compose",
                 f"/admin/broadcasts/{sent}"):
        page.goto(server.url + path)
        text = page.locator("main h1").evaluate("e => e.getBoundingClientRect().left")
        link = page.locator("footer nav a").first.evaluate(
            "e => e.getBoundingClientRect().left")
        assert link == pytest.approx(text, abs=0.5), f"{path}: footer {link}, text {text}"
        page.screenshot(path=str(tmp_path / f"{path.strip('/').replace('/', '-') or 'start'}"
                                             f"-{viewport['width']}.png"), full_page=True)
        if not path.startswith("/admin"):
            expect(page.locator(".site-header .authority")).to_have_text(env["AUTHORITY_NAME"])
        check(page, f"({path} at {viewport['width']}px)")


def test_the_servers_objection_goes_once_the_text_is_fixed(office, contexts):
    env, server = office
    page = contexts()
    sign_in(page, server, "erika", "/admin/compose")
    page.get_by_label("Text der Meldung").fill("x" * 1601)
    page.get_by_role("button", name="Weiter zur Bestätigung").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Der Text hat 1.601 Zeichen; erlaubt sind höchstens 1.600.")
    check(page, "(server error)")
    page.get_by_label("Text der Meldung").fill("Kürzer.")
    expect(alert).to_be_hidden()


def test_the_audience_page_reads_on_a_phone(office, contexts):
    env, server = office
    leaving = server.citizen()
    leaving.send("Start")
    leaving.send("Stop")
    page = contexts()
    sign_in(page, server, "paul", "/admin/audience")
    labels = page.locator("svg.chart .axis-label")
    expect(labels.last).to_have_text(re.compile(r"^heute, \d\d\.\d\d\.$"))
    for label in labels.all():
        assert label.bounding_box()["height"] >= 12, "axis text a phone can read"
    # One cancellation among several subscriptions: its bar still shows.
    bar = page.locator("svg.chart rect.unsubscribed").last
    assert bar.bounding_box()["height"] >= 2.5
    expect(page.locator("#month-cost")).to_contain_text("In diesem Monat bisher: ca. ")
    page.get_by_text("Zahlen als Tabelle").click()
    region = page.get_by_role("region", name="An- und Abmeldungen pro Tag")
    region.focus()  # a keyboard reaches the table's scrolling area
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == \
        "An- und Abmeldungen pro Tag"
    check(page, "(audience, table open)")


def test_an_admin_manages_accounts_and_reads_the_audit_trail(office, contexts):
    env, server = office
    page = contexts(DESKTOP)
    sign_in(page, server, "anna", "/admin/accounts")
    page.get_by_label("Name", exact=True).fill("neu")
    page.get_by_label("Rolle", exact=True).select_option("editor")
    page.get_by_label("Erstes Passwort").fill("ein-anderes-Passwort-9")
    page.get_by_role("button", name="Konto anlegen").click()
    row = page.locator('tr[data-account="neu"]')
    expect(row.locator("[data-role]")).to_have_text("Redaktion")
    row.get_by_label("Rolle von neu").select_option("publisher")
    row.get_by_role("button", name="Rolle ändern").click()
    expect(row.locator("[data-role]")).to_have_text("Veröffentlichen")
    check(page, "(accounts)")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Konto neu löschen").click()
    expect(page.locator('tr[data-account="neu"]')).to_have_count(0)

    page.get_by_role("navigation", name="Konsole").get_by_role("link", name="Protokoll").click()
    expect(page.locator("#verification")).to_contain_text("Die Kette ist unversehrt")
    actions = page.locator("#audit [data-action]").evaluate_all(
        "cells => cells.map(c => c.dataset.action)")
    assert actions[:3] == ["user_removed", "user_role_changed", "user_added"]
    for done in ("broadcast_approved", "broadcast_test_sent", "broadcast_archive_removed",
                 "broadcast_created", "signin"):
        assert done in actions, done
    check(page, "(audit trail)")


def test_every_console_and_public_page_passes_axe(office, contexts, tmp_path):
    """The pages the tests above did not reach, then: every HTML page of the app was checked."""
    env, server = office
    page = contexts()
    page.goto(server.url + "/datenschutz")
    check(page)
    page.goto(server.url + "/admin/login")
    check(page)
    page.goto(server.url + "/keine-seite")
    check(page, "(not found)")
    sign_in(page, server, "anna")
    draft = server.api("POST", "/api/broadcasts", json={
        "text": "Geplant für später", "send_at": "2099-01-01T09:00:00+01:00"}).json()["id"]
    page.goto(f"{server.url}/admin/broadcasts/{draft}")
    expect(page.get_by_role("button", name="Änderungen speichern")).to_be_visible()
    check(page, "(scheduled, editable)")
    page.goto(f"{server.url}/admin/broadcasts/999999")
    check(page, "(no such broadcast)")
    # The simulator exists only in demo mode: a demo server of its own.
    demo_env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    demo_env.update(PORT=str(free_port()), DATABASE_PATH=str(tmp_path / "demo.db"),
                    PUBLIC_URL="")
    create_app(dict(demo_env)).test_cli_runner().invoke(
        args=["users", "add", "paul", "--password-stdin"], input=PASSWORD + "\n")
    demo = WebServer(demo_env)
    try:
        simulator = contexts()
        sign_in(simulator, demo, "paul", "/admin/simulator")
        simulator.get_by_label("Nachricht").fill("Start")
        simulator.get_by_role("button", name="Senden", exact=True).click()
        mine = simulator.locator("#chat li.mine .bubble").last
        theirs = simulator.locator("#chat li.theirs .bubble").last
        expect(theirs).to_contain_text("Willkommen")
        # As on the citizen's phone: their own messages green, the channel's white (waited
        # for: on a busy machine the page may be read before its stylesheet applies).
        expect(mine).to_have_css("background-color", "rgb(220, 248, 198)")
        expect(theirs).to_have_css("background-color", "rgb(255, 255, 255)")
        check(simulator, "(simulator)")
        # A second question within the notice's window gets nothing, and the page says why.
        for body in ("Wann kommt der Müll?", "Und das Altpapier?"):
            simulator.get_by_label("Nachricht").fill(body)
            simulator.get_by_role("button", name="Senden", exact=True).click()
        expect(simulator.locator("#chat [data-silence]")).to_have_count(1)
        expect(simulator.locator("#chat li.mine").last).to_contain_text(
            "Keine Antwort: Der Hinweis")
        check(simulator, "(simulator, a message without reply)")
    finally:
        demo.stop()
    app = create_app(dict(env))
    html_pages = {accessibility.route_of(re.sub(r"<(?:int:)?\w+>", "0", rule.rule))
                  for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and rule.endpoint.split(".")[0] in (
                      "public", "console", "auth", "simulator")
                  and not rule.rule.endswith((".json", ".xml", ".svg", ".png", ".ico"))}
    # Run alone (-k), the tests above did not visit their pages: visit them here.
    for route in sorted(html_pages - accessibility.CHECKED):
        page.goto(server.url + route.replace("<id>", str(draft)))
        check(page)
    assert html_pages - accessibility.CHECKED == set()
    assert page.missing == [f"{server.url}/keine-seite", f"{server.url}/admin/broadcasts/999999"]


def test_the_audit_trail_of_all_this_verifies_and_fails_once_an_entry_is_changed(office):
    env, _ = office

    def verify():
        environ = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        environ.update(env)
        environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + environ["PATH"]
        return subprocess.run(["flask", "--app", "wsgi", "audit", "verify"], cwd=ROOT,
                              env=environ, capture_output=True, text=True, timeout=60)

    intact = verify()
    assert intact.returncode == 0, intact.stderr
    checked = int(re.search(r"(\d+) entries verified", intact.stdout).group(1))
    with sqlite3.connect(env["DATABASE_PATH"]) as conn:
        assert checked == conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        # The approval, as someone might wish it had been given by another; else (the module's
        # other tests not run) the first entry.
        entry_id = conn.execute(
            "SELECT coalesce((SELECT min(id) FROM audit_log WHERE action = "
            "'broadcast_approved'), min(id)) FROM audit_log").fetchone()[0]
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'paul' WHERE id = ?", (entry_id,))
    altered = verify()
    assert altered.returncode == 1
    assert f"entry {entry_id} its content does not match its hash" in altered.stderr

