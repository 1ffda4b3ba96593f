"""The feed for people: the footer's "Nachrichten-Feed" opens a page that says what a feed is,
gives the Atom feed's address and shows its entries; the Atom feed itself stays as it was.
Through the Flask app, and in Chromium (with axe) against gunicorn."""

import re
import xml.etree.ElementTree as ET

from playwright.sync_api import expect

from bot import create_app
from tests.accessibility import check
from tests.conftest import PUBLIC_URL
from tests.test_browser import PHONE, browser, page, site_env  # noqa: F401 (fixtures)
from tests.test_public_page import publish

ATOM = "{http://www.w3.org/2005/Atom}"
ALTERNATE = re.compile(re.escape('<link rel="alternate" type="application/atom+xml"')
                       + r'[^>]*href="/feed\.xml"')
DESKTOP = {"width": 1280, "height": 800}


def footer_links(html):
    footer = html[html.index('<footer'):]
    return dict((label.strip(), href) for href, label in
                re.findall(r'<a href="([^"]+)">([^<]+)</a>', footer))


def test_the_footer_leads_to_a_page_for_people_not_to_the_xml(client):
    for path in ("/", "/datenschutz", "/feed"):
        assert footer_links(client.get(path).get_data(as_text=True))["Nachrichten-Feed"] == \
            "/feed", path
    response = client.get("/feed")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<h1 id=\"titel\">Meldungen als Nachrichten-Feed</h1>" in html
    assert "Was ist ein Nachrichten-Feed?" in html and "Feed-App" in html
    # The address to copy is the public one, and the link for feed readers is the Atom feed.
    assert f'<code id="feed-adresse">{PUBLIC_URL}/feed.xml</code>' in html
    assert 'href="/feed.xml" type="application/atom+xml"' in html
    assert "Noch keine Meldungen." in html


def test_every_public_page_names_the_atom_feed_for_browsers_and_readers(client):
    for path in ("/", "/datenschutz", "/feed"):
        assert len(ALTERNATE.findall(client.get(path).get_data(as_text=True))) == 1, path


def test_the_page_shows_what_the_feed_holds_and_nothing_that_is_not_public(app, client):
    publish(app, "Sperrung der B7 ab Montag")
    publish(app, "Nur für Abonnenten", public=False)
    publish(app, "Sturmwarnung", urgent=True)
    html = client.get("/feed").get_data(as_text=True)
    assert "Sperrung der B7 ab Montag" in html and "Sturmwarnung" in html
    assert "Nur für Abonnenten" not in html
    assert "Eilmeldung" in html
    feed = ET.fromstring(client.get("/feed.xml").data)
    in_feed = [e.text for e in feed.iter(f"{ATOM}content")]
    assert in_feed == ["Sturmwarnung", "Sperrung der B7 ab Montag"]
    on_page = re.findall(r'<p class="text">([^<]+)</p>', html)
    assert on_page == in_feed, "the page shows the feed's entries, newest first"


def test_the_atom_feed_stays_what_feed_readers_know(app, client):
    publish(app, "Sperrung der B7 ab Montag")
    response = client.get("/feed.xml")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {"self": f"{PUBLIC_URL}/feed.xml", "alternate": f"{PUBLIC_URL}/"}


def test_the_page_loads_nothing_from_other_sites_and_runs_no_script(client):
    html = client.get("/feed").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "#")), url
    assert "<script" not in html and " style=" not in html


def test_a_citizen_reads_the_feed_page_on_a_phone_and_a_desktop(config, site_env, start_web,
                                                               page):  # noqa: F811
    app = create_app(dict(config, PUBLIC_URL=site_env["PUBLIC_URL"]))
    publish(app, "Hochwasser: Die Uferstraße ist ab 14 Uhr gesperrt.")
    publish(app, "Interne Probe", public=False)
    server = start_web(site_env)
    page.goto(server.url + "/")
    page.get_by_role("navigation", name="Weitere Seiten").get_by_role(
        "link", name="Nachrichten-Feed").click()
    expect(page).to_have_url(server.url + "/feed")
    expect(page.get_by_role("heading", level=1)).to_have_text("Meldungen als Nachrichten-Feed")
    expect(page.get_by_role("heading", name="Was ist ein Nachrichten-Feed?")).to_be_visible()
    expect(page.locator("#feed-adresse")).to_have_text(server.url + "/feed.xml")
    expect(page.locator(".archive")).to_contain_text("Die Uferstraße ist ab 14 Uhr gesperrt")
    expect(page.get_by_text("Interne Probe")).to_have_count(0)
    # Read as a page, not as XML: the browser rendered HTML.
    assert page.evaluate("document.contentType") == "text/html"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    check(page, "(phone)")
    page.set_viewport_size(DESKTOP)
    check(page, "(desktop)")
    feed_link = page.get_by_role("link", name=re.compile("Feed-Adresse öffnen"))
    expect(feed_link).to_have_attribute("href", "/feed.xml")
    atom = page.request.get(server.url + "/feed.xml")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    assert [e.text for e in ET.fromstring(atom.body()).iter(f"{ATOM}content")] == [
        "Hochwasser: Die Uferstraße ist ab 14 Uhr gesperrt."]
