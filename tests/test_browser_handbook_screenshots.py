"""The handbook's screenshots, taken of the real console on every run so that they never show
an older one, on the way of the handbook's quick start (its labels, ``QUICK_START``): signing in, writing, the confirmation with its plan, the approval by a second
person, the counts of the sent broadcast, its reactions and the correction form (appearing
without a reload once it is sent), the list, the audit trail, a poll's results, a broadcast
paused because the platform refused the county's credentials. They are written into
``docs/handbuch/bilder/`` (each through a temporary file renamed into place, so that a docs
build running at the same time never reads half a picture) and committed with the handbook.

One deployment (web server and sender from the Procfile, with approval required, two topics,
English beside German, polls and a price per message), three accounts, five subscribers.
"""

import io
import os
import re

import pytest
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import expect

from bot.web import handbook
from tests.accessibility import check
from bot import create_app
from tests.conftest import WebServer, free_port, time_bound, wait_for
from tests.test_browser import browser  # noqa: F401 - the module's browser
from tests.test_browser_press_office import PASSWORD, running_office
from tests.test_handbook import QUICK_START as STEP

PICTURES = handbook.FOLDER / handbook.PICTURES
# Wide enough for the console's desktop layout, small enough for a page of the handbook.
WINDOW = {"width": 1000, "height": 720}
ACCOUNTS = {"anna": "admin", "paul": "publisher", "petra": "publisher"}
TEXT = ("Die Kreisstraße K 12 zwischen Lilienthal und Worpswede ist von Montag, 8 Uhr, "
        "bis Freitag gesperrt. Die Umleitung ist ausgeschildert.")
PAUSED_TEXT = "Probealarm: Am Samstag um 12 Uhr heulen im ganzen Landkreis die Sirenen."
POLL_TWO = "HX" + "7" * 32
POLL_TEXT = "Soll der Wochenmarkt in Lilienthal künftig auch samstags öffnen?"
CORRECTION = "Die Sperrung beginnt erst am Dienstag, 8 Uhr."
ENGLISH = ("The county road K 12 between Lilienthal and Worpswede is closed from Monday, "
           "8 am, until Friday. The diversion is signposted.")


@pytest.fixture(scope="module")
def office(tmp_path_factory, fake_twilio):
    yield from running_office(
        tmp_path_factory.mktemp("handbook"), fake_twilio, ACCOUNTS, APPROVAL_REQUIRED="1",
        POLL_CONTENT_SID=f"2={POLL_TWO}",
        PRICE_PER_MESSAGE="0.045", MONTHLY_BUDGET="500", LANGUAGES="de,en",
        TOPICS="baustellen=Baustellen und Sperrungen,veranstaltungen=Veranstaltungen")


def road_sign():
    """The picture of the broadcast: a plain diversion sign, drawn here."""
    picture = Image.new("RGB", (800, 450), (255, 204, 0))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((30, 30, 770, 420), outline=(0, 0, 0), width=12)
    font = ImageFont.load_default(size=96)
    draw.text((400, 225), "Umleitung", fill=(0, 0, 0), font=font, anchor="mm")
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


# Every time the console shows ("07.12.2026, 04:44 Uhr"), shown as one fixed time in the
# screenshots: otherwise each run would change the committed pictures by their clock alone.
SHOWN_TIME = "02.12.2026, 09:41 Uhr"
FIX_TIMES = """time => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const pattern = /\\d\\d\\.\\d\\d\\.\\d{4}, \\d\\d:\\d\\d Uhr/g;
    // The simulator's citizens have numbers made up anew each run (shown shortened).
    const number = /\\+\\d+•••\\d{4}/g;
    while (walker.nextNode()) {
        const node = walker.currentNode;
        node.data = node.data.replace(pattern, time).replace(number, "+49151•••4567");
    }
}"""


def save(page, name, *parts):
    """The page as ``bilder/<name>.png`` (or only the stretch of it from the first of
    ``parts``, locators, to the last), renamed into place once written whole; left alone when
    the picture is the same as the one there."""
    # The whole page laid out, its pictures and fonts loaded: else the picture may be cut short.
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready.then(() => true)")
    page.evaluate(FIX_TIMES, SHOWN_TIME)
    final = PICTURES / f"{name}.png"
    partial = PICTURES / f".{name}.png.tmp"
    clip = None
    if parts:
        page.evaluate("window.scrollTo(0, 0)")
        top, bottom = parts[0].bounding_box(), parts[-1].bounding_box()
        margin = 16
        clip = {"x": 0, "y": max(top["y"] - margin, 0), "width": WINDOW["width"],
                "height": bottom["y"] + bottom["height"] - top["y"] + 2 * margin}
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True, clip=clip)))
    # A console page has few colours: a palette of 256 keeps it sharp at a third of the size.
    shot.convert("RGB").quantize(256).save(partial, "PNG", optimize=True)
    if final.exists() and final.read_bytes() == partial.read_bytes():
        partial.unlink()
    else:
        os.replace(partial, final)


def person(browser):  # noqa: F811 - the module's browser
    context = browser.new_context(viewport=WINDOW, locale="de-DE", timezone_id="Europe/Berlin")
    context.set_default_timeout(15_000)
    return context, context.new_page()


def sign_in(page, server, name):
    page.goto(server.url + "/admin")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name=STEP["sign_in"]).click()
    expect(page.get_by_role("heading", name="Meldungen", exact=True)).to_be_visible()


def test_the_handbooks_screenshots_show_the_console_of_today(office, browser,  # noqa: F811
                                                             fake_twilio):
    env, server = office
    fake_twilio.reset()
    fake_twilio.callbacks = ["sent", "delivered", "read"]
    fake_twilio.quick_replies[POLL_TWO] = 2
    PICTURES.mkdir(exist_ok=True)
    # Beside the three of the deployment: one who reads English, one for a topic only.
    assert server.citizen().send("Subscribe").status_code == 200
    assert server.citizen().send("Start Baustellen").status_code == 200
    opened = []
    with time_bound(150):
        try:
            context, paul = person(browser)
            opened.append(context)
            paul.goto(server.url + "/admin/login")
            paul.get_by_label("Name").fill("paul")
            save(paul, "anmelden")
            sign_in(paul, server, "paul")

            paul.get_by_role("link", name=STEP["new"]).click()
            paul.get_by_label(STEP["text"]).fill(TEXT)
            paul.get_by_label("Text auf English (optional)").fill(ENGLISH)
            paul.get_by_label("Baustellen und Sperrungen").check()
            paul.get_by_label("Bild, Video oder PDF (optional)").set_input_files(
                files=[{"name": "umleitung.png", "mimeType": "image/png",
                        "buffer": road_sign()}])
            expect(paul.locator("#preview-picture")).to_be_visible()
            save(paul, "schreiben")

            paul.get_by_role("button", name=STEP["confirm"]).click()
            expect(paul.get_by_role("heading", name="Meldung bestätigen")).to_be_visible()
            expect(paul.locator("#plan-cost")).to_contain_text("€")
            save(paul, "bestaetigen")
            paul.get_by_role("button", name=STEP["request"]).click()
            expect(paul.locator("#status")).to_have_text("wartet auf Freigabe")
            expect(paul.locator("#second-person")).to_be_visible()
            broadcast_id = int(re.search(r"/admin/broadcasts/(\d+)$", paul.url).group(1))

            context, petra = person(browser)
            opened.append(context)
            sign_in(petra, server, "petra")
            expect(petra.locator("#awaiting")).to_contain_text("angefragt von paul")
            save(petra, "freigabe-liste")
            petra.locator("#awaiting").get_by_role(
                "link", name=re.compile(f"Nr. {broadcast_id}")).click()
            expect(petra.get_by_role("button", name=STEP["approve"])).to_be_visible()
            save(petra, "freigabe")
            petra.once("dialog", lambda dialog: dialog.accept())
            petra.get_by_role("button", name=STEP["approve"]).click()
            expect(petra.locator('[data-count="read"]')).to_have_text("5")
            expect(petra.locator("#status")).to_have_text("gesendet")
            expect(petra.locator("#finished")).to_be_visible()
            # Once sent, the page offers the correction by itself: no reload needed.
            correction = petra.get_by_role("region", name="Berichtigung")
            expect(correction).to_be_visible()
            save(petra, "zahlen")

            sent = [(m["To"].removeprefix("whatsapp:"), m["sid"])
                    for m in list(fake_twilio.messages)
                    if "K 12" in m.get("Body", "")]
            for (number, sid), emoji in zip(sent, ("👍", "👍", "👍", "❤️")):
                assert server.citizen(number).send(emoji, MessageType="reaction",
                                                   OriginalRepliedMessageSid=sid).status_code == 200
            petra.reload()
            expect(petra.locator("#reactions")).to_have_text("👍 3 · ❤️ 1")
            correction.get_by_label("Was ist richtig?").fill(CORRECTION)
            expect(correction.get_by_role("button", name="Berichtigung zur Freigabe vorlegen")) \
                .to_be_visible()
            save(petra, "berichtigung", petra.get_by_role("region", name="Reaktionen"), correction)

            petra.get_by_role("navigation", name="Konsole").get_by_role(
                "link", name="Meldungen").click()
            expect(petra.locator(f'[data-broadcast="{broadcast_id}"] [data-count="read"]')) \
                .to_have_text("5")
            save(petra, "meldungen")

            context, anna = person(browser)
            opened.append(context)
            sign_in(anna, server, "anna")
            anna.get_by_role("link", name="Protokoll").click()
            expect(anna.locator("#audit")).to_contain_text("Meldung freigegeben")
            save(anna, "protokoll")

            # A poll, sent through the API as the IT would, tapped by three citizens.
            before = len(fake_twilio.messages)
            poll = server.api("POST", "/api/broadcasts", json={
                "text": POLL_TEXT, "answers": ["Ja", "Nein"], "public": False}).json()["id"]
            wait_for(lambda: server.api("GET", f"/api/broadcasts/{poll}").json()["status"]
                     == "done", message="the poll sent")
            voters = [m["To"].removeprefix("whatsapp:")
                      for m in list(fake_twilio.messages)[before:]]
            for number, answer in zip(voters, (1, 1, 2)):
                title = ("Ja", "Nein")[answer - 1]
                assert server.citizen(number).send(
                    title, MessageType="button", ButtonText=title,
                    ButtonPayload=f"poll:{poll}:{answer}").status_code == 200
            anna.goto(f"{server.url}/admin/broadcasts/{poll}")
            results = anna.locator("#poll")
            expect(results).to_contain_text("3 Antworten")
            save(anna, "umfrage", results)

            # The help link of the page goes to its section of the handbook, served here
            # (every picture there, the poll's too).
            anna.get_by_role("link", name="Protokoll").click()
            anna.get_by_role("link", name="Hilfe").click()
            expect(anna).to_have_url(f"{server.url}/hilfe/#protokoll")
            expect(anna.locator("#protokoll")).to_be_visible()
            for image in anna.locator(".handbook img").all():
                assert image.evaluate("i => i.complete && i.naturalWidth > 0"), \
                    image.get_attribute("src")
            check(anna, "(handbook)")

            # The platform refuses the county's credentials: the broadcast pauses and waits
            # for the IT, who fixes them and resumes it (here: through the API, as they would).
            fake_twilio.error_queue = [(401, 20003)] * 5
            paused = server.api("POST", "/api/broadcasts", json={
                "text": PAUSED_TEXT, "public": False}).json()["id"]
            wait_for(lambda: server.api("GET", f"/api/broadcasts/{paused}").json()["status"]
                     == "paused", message="the broadcast pauses")
            anna.goto(f"{server.url}/admin/broadcasts/{paused}")
            expect(anna.locator("#status")).to_have_text("pausiert")
            expect(anna.get_by_role("status").filter(has_text="Pausiert")).to_contain_text(
                "Zugangsdaten")
            save(anna, "pausiert")
            fake_twilio.error_queue.clear()
            assert server.api("POST", f"/api/broadcasts/{paused}/resume").status_code == 200
            expect(anna.locator("#status")).to_have_text("gesendet")
        finally:
            for context in opened:
                context.close()


def test_the_handbooks_simulator_screenshot_shows_a_citizen_joining(office, browser,  # noqa: F811
                                                                    tmp_path):
    """The simulator exists only in demo mode: a demo web server of its own, without the
    sender (the channel's answers need none)."""
    env, _ = office
    demo_env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
    demo_env.update(PORT=str(free_port()), DATABASE_PATH=str(tmp_path / "demo.db"),
                    PUBLIC_URL="", APPROVAL_REQUIRED="0")
    create_app(dict(demo_env)).test_cli_runner().invoke(
        args=["users", "add", "paul", "--password-stdin"], input=PASSWORD + "\n")
    with time_bound(60):
        demo = WebServer(demo_env)
        context, page = person(browser)
        try:
            sign_in(page, demo, "paul")
            page.get_by_role("navigation", name="Konsole").get_by_role(
                "link", name="Simulator").click()
            for body in ("Start", "Wann ist die Brücke wieder offen?"):
                page.get_by_label("Nachricht").fill(body)
                page.get_by_role("button", name="Senden", exact=True).click()
                expect(page.locator("#chat li.mine").last).to_contain_text(body)
            expect(page.locator("#chat li.theirs").first).to_contain_text("Willkommen")
            # Reloading the page goes somewhere: a link that looks like one, not a button.
            refresh = page.get_by_role("link", name="Aktualisieren")
            expect(refresh).not_to_have_class(re.compile(r"\bbutton\b"))
            save(page, "simulator")
        finally:
            context.close()
            demo.stop()
