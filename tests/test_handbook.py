"""The press office's handbook (``docs/handbuch``) and the console's help links: every console
page links to a section that exists, every picture the handbook shows exists and is described
in words, every screenshot in ``bilder/`` is used, and the service serves the handbook itself
under ``/hilfe/``; and that it uses the console's own words where a newcomer stumbled: the
notice after asking for approval, the newer labels, what citizens write, the cost categories.
The screenshots themselves are made by ``test_browser_handbook_screenshots``."""

import re
from pathlib import Path

import pytest

from bot import create_app
from bot.web import handbook
from tests.conftest import OFFICER, OFFICER_PASSWORD, Console

ROOT = Path(__file__).resolve().parent.parent
TEXT = (handbook.FOLDER / handbook.PAGE).read_text(encoding="utf-8")
ANCHORS = set(re.findall(r"^#+ .*\{#([a-z0-9-]+)\}\s*$", TEXT, re.MULTILINE))
# ![alt text](bilder/name.png), alone on its line (indented in a list's step).
IMAGE = re.compile(r"^ *!\[([^\]]*)\]\((bilder/[^)]+)\)\s*$", re.MULTILINE)
# The pages whose help link matters: what a press officer opens or a form of the console
# answers, not the scripts' JSON; signing out only sends the browser to the sign-in page.
HELPED = ("console.", "simulator.", "auth.login")


def page_endpoints(app):
    return sorted({rule.endpoint for rule in app.url_map.iter_rules()
                   if rule.endpoint.startswith(HELPED) and not rule.rule.endswith(".json")})


def test_every_console_page_has_a_section_of_the_handbook(config):
    app = create_app({k: v for k, v in config.items() if not k.startswith("TWILIO_")})
    endpoints = page_endpoints(app)
    assert "console.compose" in endpoints and "simulator.page" in endpoints
    assert [e for e in endpoints if e not in handbook.SECTIONS] == []


@pytest.mark.parametrize("endpoint", sorted(handbook.SECTIONS))
def test_each_help_link_goes_to_a_heading_of_the_handbook(endpoint):
    assert handbook.SECTIONS[endpoint] in ANCHORS


# The console's words a first-time reader follows in "Das Wichtigste in Kürze" to send a
# broadcast with approval; the screenshot test signs in, writes and approves by these labels.
QUICK_START = {"sign_in": "Anmelden", "new": "Neue Meldung schreiben", "text": "Text der Meldung",
               "confirm": "Weiter zur Bestätigung", "request": "Zur Freigabe vorlegen",
               "approve": "Freigeben und senden"}


def section_text(anchor):
    start = re.search(rf"^#+ .*\{{#{anchor}\}}$", TEXT, re.MULTILINE).end()
    following = re.search(r"^#+ ", TEXT[start:], re.MULTILINE)
    return TEXT[start:start + following.start()] if following else TEXT[start:]


def test_the_quick_start_names_each_step_by_the_consoles_label():
    quick = re.sub(r"\s+", " ", section_text("kurz"))
    assert [label for label in QUICK_START.values() if f"„{label}“" not in quick] == []


def test_the_handbook_starts_at_its_own_anchor():
    assert handbook.START in ANCHORS
    assert TEXT.startswith(f"# Handbuch für die Pressestelle {{#{handbook.START}}}\n")


def test_the_documentation_site_gives_headings_the_anchors_the_console_links_to():
    """``{#id}`` after a heading is Markdown's attr_list: without it in mkdocs.yml the site
    would show the braces and have none of the anchors."""
    site = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"\battr_list\b", site), "mkdocs.yml: markdown_extensions: attr_list"
    assert "attr_list" in handbook.EXTENSIONS


def test_every_picture_exists_is_described_and_every_screenshot_is_shown():
    shown = IMAGE.findall(TEXT)
    assert shown, "the handbook shows the console"
    for alt, path in shown:
        assert (handbook.FOLDER / path).is_file(), path
        assert len(alt) >= 10, f"{path}: alt text that says what it shows"
    paths = [path for _, path in shown]
    assert len(paths) == len(set(paths)), "each screenshot once"
    files = {f"{handbook.PICTURES}/{p.name}"
             for p in (handbook.FOLDER / handbook.PICTURES).iterdir() if not p.name.startswith(".")}
    assert files == set(paths), "every screenshot in bilder/ is in the handbook"
    # For those who cannot see it: a sentence right below each picture says what it shows.
    for match in IMAGE.finditer(TEXT):
        following = TEXT[match.end():].lstrip()
        assert following.startswith("*Im Bild:*"), match.group(2)


# English words a press officer would have to translate; the console says "Meldung",
# "Schaltfläche", "hochladen", "Konto"… (checked as whole words, in any case).
JARGON = ["Broadcast", "Button", "Upload", "Login", "Account", "Token", "Screenshot", "Queue",
          "Dashboard", "Template", "User", "Session", "Cookie", "online", "API", "Opt-out"]


def test_the_handbook_speaks_the_consoles_german_not_jargon():
    found = [word for word in JARGON
             if re.search(rf"\b{re.escape(word)}s?\b", TEXT, re.IGNORECASE)]
    assert found == []


def test_no_image_or_link_of_the_handbook_leaves_its_folder():
    """Served under /hilfe/ as well as in the site: a link to another page of the site would
    lead nowhere from the console."""
    for target in re.findall(r"\]\(([^)]+)\)", TEXT):
        assert target.startswith(("bilder/", "#", "https://")), target


PAGES = {"/admin": "meldungen", "/admin/compose": "schreiben", "/admin/audience": "reichweite",
         "/admin/costs": "kosten", "/admin/accounts": "konten", "/admin/audit": "protokoll",
         "/admin/password": "passwort", "/admin/simulator": "simulator"}


def test_each_console_page_links_to_its_section(config):
    """In a demo console (simulator included), as an administrator (every page shows); one
    app for all the pages, since making an account hashes a password slowly on purpose."""
    app = create_app({k: v for k, v in config.items() if not k.startswith("TWILIO_")})
    result = app.test_cli_runner().invoke(
        args=["users", "add", OFFICER, "--role", "admin", "--password-stdin"],
        input=f"{OFFICER_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    console = Console(app.test_client())
    assert console.sign_in().status_code == 302
    for path, anchor in PAGES.items():
        html = console.client.get(path).get_data(as_text=True)
        assert f'<a href="/hilfe/#{anchor}" id="help">Hilfe</a>' in html, path


def test_the_sign_in_page_links_to_the_section_on_signing_in(client):
    html = client.get("/admin/login").get_data(as_text=True)
    assert 'href="/hilfe/#anmelden"' in html


def test_the_service_serves_the_handbook_with_its_anchors_and_pictures(client):
    """Public, no sign-in: it also explains how to sign in."""
    answer = client.get("/hilfe/")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    for anchor in ANCHORS:
        assert f'id="{anchor}"' in html
    assert "{#" not in html
    # The site's Content-Security-Policy allows no inline style or script.
    assert " style=" not in html and "<script" not in html
    _, path = IMAGE.findall(TEXT)[0]
    assert f'src="{path}"' in html
    picture = client.get(f"/hilfe/{path}")
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert picture.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("path", ["/hilfe/bilder/fehlt.png", "/hilfe/bilder/..%2Findex.md",
                                  "/hilfe/bilder/index.md", "/hilfe/index.md"])
def test_nothing_but_the_handbooks_pictures_is_served(client, path):
    assert client.get(path).status_code == 404


def plain(html):
    """Text as a reader sees it: no tags, entities resolved, spaces as one."""
    import html as entities
    return re.sub(r"\s+", " ", entities.unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_the_handbook_quotes_what_the_console_says_after_asking_for_approval(config):
    """What a publisher reads on the broadcast's page once they clicked "Zur Freigabe
    vorlegen": the notice at the top and the sentence in the "Wartet auf Freigabe" box."""
    from tests.conftest import csrf_from, signed_in_demo_console
    console = signed_in_demo_console(config, APPROVAL_REQUIRED="1")
    confirm = console.post("/admin/compose", {"text": "Die Brücke ist wieder offen."})
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'value="request"' in html, html
    nonce = re.search(r'name="nonce" value="([^"]+)"', html).group(1)
    asked = console.client.post("/admin/compose", data={
        "text": "Die Brücke ist wieder offen.", "nonce": nonce, "action": "request",
        "csrf_token": csrf_from(html)}, follow_redirects=True)
    page = asked.get_data(as_text=True)
    notice = plain(re.search(r'<p class="notice" role="status">(.*?)</p>', page, re.S).group(1))
    second = plain(re.search(r'<p id="second-person">(.*?)</p>', page, re.S).group(1))
    assert notice.startswith("Die Meldung wartet jetzt auf Freigabe")
    section = re.sub(r"\s+", " ", section_text("freigabe"))
    assert [said for said in (notice, second) if f"„{said}“" not in section] == []


# The console's words for what it gained lately, each explained in the handbook: the page
# templates must still show them (else the handbook names a label that is gone).
NEW_LABELS = {"meldungen": ["Adressiert"],
              "bild": ["Bild, Video oder PDF (optional)", "Anhang entfernen"],
              "umfrage": ["Umfrage (optional)", "Umfrage beenden"],
              "berichtigung": ["Reaktionen", "Noch keine Reaktionen.", "Berichtigung",
                               "Was ist richtig?", "Berichtigung zur Freigabe vorlegen",
                               "Berichtigung senden"]}


@pytest.mark.parametrize("anchor", sorted(NEW_LABELS))
def test_the_handbook_explains_the_consoles_newer_labels(anchor):
    templates = "".join(p.read_text(encoding="utf-8") for p in
                        (ROOT / "bot" / "web" / "templates" / "console").glob("*.html"))
    section = re.sub(r"\s+", " ", section_text(anchor))
    for label in NEW_LABELS[anchor]:
        assert label in templates, f"the console no longer says {label!r}"
        assert f"„{label}“" in section, f"#{anchor} does not explain „{label}“"


def test_the_handbook_tells_what_citizens_write():
    """Press officers answer citizens' questions about the channel: every German keyword,
    the topics' Start/Stop with a keyword, and Leichte Sprache's own Start."""
    from bot import wording
    section = re.sub(r"\s+", " ", section_text("buerger"))
    words = [w for words in wording.KEYWORDS["de"].values() for w in words]
    words += wording.KEYWORDS["de-LS"]["start"][:1] + ["Start baustellen", "Stop baustellen"]
    assert [w for w in words if f"„{w}“" not in section] == []


def test_the_handbook_explains_the_cost_categories_the_costs_page_shows():
    from bot.web import costs_page
    section = re.sub(r"\s+", " ", section_text("kosten"))
    names = list(costs_page.CATEGORY_NAMES.values()) + ["Gebühr der Plattform",
                                                         "Kategorie der Vorlage"]
    assert [n for n in names if f"„{n}“" not in section] == []
