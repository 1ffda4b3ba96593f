"""What a new press officer stumbled over, each fixed and held: plurals, defaults that read as
German, no jargon, a privacy notice that says what the law asks, a favicon, the chart, the
"gültig bis" field, planned broadcasts that can be changed and called off."""

import re
from datetime import date, timedelta

import pytest

from bot import create_app
from bot.config import start_banner
from bot.web import charts
from tests.conftest import OFFICER, OFFICER_PASSWORD, Console, rows, submit_broadcast


def test_counts_of_one_are_singular(app, console, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Stop")
    with app.app_context():
        submit_broadcast({"text": "Eine"}, created_by="test")
    assert "Die letzte Meldung" in console.client.get("/admin").get_data(as_text=True)
    assert "1 Anmeldung, 1 Abmeldung." in console.client.get("/admin/audience").get_data(
        as_text=True)


@pytest.fixture
def unnamed(config):
    """A deployment whose operator set neither AUTHORITY_NAME nor CONTACT_INFO."""
    settings = {k: v for k, v in config.items() if k not in ("AUTHORITY_NAME", "CONTACT_INFO")}
    app = create_app(settings)
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                 input=OFFICER_PASSWORD + "\n")
    return app


def test_the_default_names_read_as_german_in_every_sentence(unnamed):
    from tests.conftest import citizens_of

    client = unnamed.test_client()
    privacy = client.get("/datenschutz").get_data(as_text=True)
    assert "Verantwortlich für den WhatsApp-Infokanal ist Musterstadt." in privacy
    assert "Infokanal von Musterstadt auf WhatsApp" in client.get("/").get_data(as_text=True)
    assert "<title>Infokanal – Musterstadt</title>" in client.get("/feed.xml").data.decode()
    reply = citizens_of(client)().send("Start").text
    assert "Willkommen beim Infokanal von Musterstadt!" in reply
    for text in (privacy, reply, client.get("/").get_data(as_text=True)):
        assert "Ihrer Verwaltung" not in text and "ist Ihrer" not in text


def test_the_console_and_the_demo_banner_say_to_set_the_names(unnamed, config):
    console = Console(unnamed.test_client())
    console.sign_in()
    notice = console.client.get("/admin").get_data(as_text=True)
    assert 'id="identity-unset"' in notice and "AUTHORITY_NAME und CONTACT_INFO" in notice
    banner = start_banner({})
    assert "Set AUTHORITY_NAME and CONTACT_INFO" in banner
    assert "AUTHORITY_NAME" not in start_banner({"AUTHORITY_NAME": "Kreis",
                                                 "CONTACT_INFO": "Tel. 1"})


def test_named_deployments_get_no_such_notice(console):
    assert 'id="identity-unset"' not in console.client.get("/admin").get_data(as_text=True)


def test_pages_for_people_speak_no_jargon(config):
    demo = create_app({k: v for k, v in config.items() if not k.startswith("TWILIO_")})
    demo.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                  input=OFFICER_PASSWORD + "\n")
    client = demo.test_client()
    login = client.get("/admin/login").get_data(as_text=True)
    public = client.get("/").get_data(as_text=True)
    console = Console(client)
    console.sign_in()
    simulator = client.get("/admin/simulator").get_data(as_text=True)
    for page in (login, public, simulator):
        for word in ("flask", "--app", "wsgi", "Atom-Feed", "Feedreader", "Feed (Atom)"):
            assert word not in page


def test_the_privacy_notice_gives_legal_basis_periods_officer_and_transfers(config):
    app = create_app(dict(config, RETENTION_CONSENT_YEARS=4, RETENTION_DELIVERY_DAYS=14,
                          DATA_PROTECTION_OFFICER="Frau Beispiel, datenschutz@musterstadt.de"))
    page = app.test_client().get("/datenschutz").get_data(as_text=True)
    for needed in ("Art. 6 Abs. 1 Buchst. a DSGVO", "Art. 7 Abs. 1 DSGVO",
                   "4 Jahre nach Ihrer Abmeldung", "14 Tage nach dem Versand",
                   "Frau Beispiel, datenschutz@musterstadt.de", "Twilio", "Meta Platforms",
                   "USA", "Data Privacy Framework", "Art. 77 DSGVO", "„Stop“"):
        assert needed in page, needed
    assert '"Stop"' not in page


def test_every_page_has_a_favicon(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    for path in ("/", "/datenschutz", "/admin/login"):
        assert 'rel="icon" href="/favicon.ico"' in client.get(path).get_data(as_text=True)


def test_the_preview_is_a_labelled_group(console):
    page = console.client.get("/admin/compose").get_data(as_text=True)
    assert 'class="preview" role="group" aria-label="Vorschau wie in WhatsApp"' in page


def test_a_bar_for_one_of_hundreds_is_visible_and_today_has_its_date():
    today = date(2026, 11, 24)
    rows_ = [(today - timedelta(days=29 - n), 606 if n == 3 else 0, 1 if n == 29 else 0)
             for n in range(30)]
    drawn = charts.chart(rows_)
    one = next(bar for bar in drawn["bars"] if bar["value"] == 1)
    assert one["height"] >= charts.MIN_BAR
    assert drawn["labels"][-1] == {"x": drawn["width"], "text": "heute, 24.11.",
                                   "anchor": "end"}
    starts = [label["x"] for label in drawn["labels"][:-1]]
    assert all(x + charts.LABEL_WIDTH <= drawn["width"] - charts.TODAY_WIDTH for x in starts)


def test_compose_has_a_valid_until_field_that_is_kept(app, console):
    assert 'id="expires_at"' in console.client.get("/admin/compose").get_data(as_text=True)
    from tests.test_console import send_from_console

    response, _ = send_from_console(console, "Bis Mitternacht", expires_at="2099-01-01T00:00")
    assert response.status_code == 302
    assert rows(app, "SELECT expires_at FROM broadcasts") == [("2098-12-31T23:00:00.000000Z",)]


def test_a_planned_broadcast_can_be_changed_and_is_called_off_not_aborted(app, console):
    from tests.test_console import send_from_console

    send_from_console(console, "Termin", send_at="2099-12-24T18:00")
    page = "/admin/broadcasts/1"
    html = console.client.get(page).get_data(as_text=True)
    assert "Meldung absagen" in html and "Meldung abbrechen" not in html
    assert 'id="save-changes"' in html
    changed = console.post(f"{page}/edit", {"text": "Termin verschoben",
                                            "send_at": "2099-12-27T18:00",
                                            "expires_at": "2099-12-28T00:00"}, token_page=page)
    assert changed.status_code == 302
    assert rows(app, "SELECT status, text, send_at FROM broadcasts") == [
        ("scheduled", "Termin verschoben", "2099-12-27T17:00:00.000000Z")]
    bad = console.post(f"{page}/edit", {"text": "", "send_at": "2099-12-27T18:00"},
                       token_page=page)
    assert bad.status_code == 400 and "Bitte geben Sie einen Text ein" in bad.get_data(
        as_text=True)
    console.post(f"{page}/cancel", token_page=page)
    assert rows(app, "SELECT status FROM broadcasts") == [("cancelled",)]


def test_the_detail_pages_script_learns_when_it_is_over(app, console, citizen):
    citizen().send("Start")
    with app.app_context():
        answer = submit_broadcast({"text": "Bald fertig"}, created_by="test")
    counts = f"/admin/broadcasts/{answer['id']}/counts.json"
    running = console.client.get(counts).json
    assert running["can_cancel"] is True and running["finished"] is None
    with app.app_context():
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
    done = console.client.get(counts).json
    assert done["can_cancel"] is False and re.match(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr",
                                                    done["finished"])


def test_the_console_sends_only_pictures_uploaded_here(app, console, client):
    # An approval binds the picture's address; only our own addresses (named by a hash of the
    # picture) stand for one picture for good. Another server's picture could change after.
    from tests.conftest import ADMIN_TOKEN

    page = console.post("/admin/compose", {"text": "Mit fremdem Bild",
                                           "media_url": "https://bilder.example.org/a.jpg"})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "gehört zu keinem hier hochgeladenen Bild" in html and "bilder.example.org" not in html
    assert rows(app, "SELECT count(*) FROM broadcasts") == [(0,)]
    # A planned broadcast the API made with such a picture keeps it through a change of its
    # text, but the console does not swap in another.
    planned = client.post("/api/broadcasts", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                          json={"text": "Termin", "send_at": "2099-12-24T18:00:00+01:00",
                                "media_url": "https://bilder.example.org/a.jpg"}).json["id"]
    page = f"/admin/broadcasts/{planned}"
    kept = console.post(f"{page}/edit", {"text": "Termin verschoben",
                                         "media_url": "https://bilder.example.org/a.jpg",
                                         "send_at": "2099-12-27T18:00"}, token_page=page)
    assert kept.status_code == 302
    swapped = console.post(f"{page}/edit", {"text": "Termin verschoben",
                                            "media_url": "https://bilder.example.org/b.jpg",
                                            "send_at": "2099-12-27T18:00"}, token_page=page)
    assert swapped.status_code == 400
    assert rows(app, "SELECT text, media_url FROM broadcasts") == [
        ("Termin verschoben", "https://bilder.example.org/a.jpg")]
