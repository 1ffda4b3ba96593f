"""The citizens' pages: join instructions, QR code, archive, feed, privacy notice."""

import io
import re
import time
import xml.etree.ElementTree as ET

import pytest
import segno
import zxingcpp
from PIL import Image

from bot import create_app
from bot.store import broadcasts, deliveries
from bot.store.db import write
from bot.web.database import get_db
from tests.conftest import submit_broadcast

ATOM = "{http://www.w3.org/2005/Atom}"
JOIN_LINK = "https://wa.me/4930901820?text=Start"


def publish(app, text, finish=True, **fields):
    """Queue a broadcast and record it as sent the way the sender does (claim, outcome)."""
    with app.app_context():
        answer = submit_broadcast(dict(text=text, **fields), created_by="test")
        with write(get_db()) as conn:
            claimed = deliveries.claim(conn, answer["id"], 1000, time.time())
            deliveries.record_outcomes(
                conn, sent=[(f"SM{item.delivery_id:032x}", item.delivery_id) for item in claimed],
                failed=[], skipped=[], retry=[], unknown_retries={})
            if finish:
                deliveries.housekeeping(conn)
    return answer["id"]


def test_page_explains_how_to_join_and_leave_in_german(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="de">' in page
    assert "Landkreis Musterstadt" in page
    assert f'href="{JOIN_LINK}"' in page
    assert 'src="/qr.svg"' in page and "alt=\"QR-Code" in page
    assert "„Stop“" in page
    assert 'href="/datenschutz"' in page and 'href="/feed.xml"' in page
    assert 'name="viewport"' in page


def test_page_says_the_number_is_encrypted_not_that_it_stays_anonymous(client):
    # Pseudonymous, not anonymous: say what is true, in words a citizen understands.
    page = client.get("/").get_data(as_text=True)
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "anonym" not in text.lower()
    assert "Ihre Nummer wird verschlüsselt gespeichert" in text
    assert "Die Verwaltung sieht nicht, wer angemeldet ist" in text
    assert "Wenn Sie sich abmelden, wird sie gelöscht." in text


def test_page_loads_nothing_from_other_sites(client):
    page = client.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith("/") or url.startswith("#") or url == JOIN_LINK, url
    assert "<script" not in page and " style=" not in page


def test_qr_svg_is_segnos_code_for_the_join_link(client):
    response = client.get("/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    expected = io.BytesIO()
    segno.make(JOIN_LINK, error="m").save(expected, kind="svg", scale=8, border=4,
                                          xmldecl=False, svgns=True,
                                          title="QR-Code zum Infokanal")
    assert response.data == expected.getvalue()
    ET.fromstring(response.data)


def test_qr_png_decodes_to_the_join_link(client):
    response = client.get("/qr.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.data)))
    assert code.text == JOIN_LINK


def test_demo_mode_without_number_shows_a_placeholder(config):
    demo = {k: v for k, v in config.items() if not k.startswith("TWILIO_")}
    client = create_app(demo).test_client()
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "noch nicht eingerichtet" in page and "wa.me" not in page
    assert client.get("/qr.svg").status_code == 404
    assert client.get("/qr.png").status_code == 404


def test_channel_description_is_configurable(config):
    client = create_app(dict(config, CHANNEL_DESCRIPTION="Alles über {authority}.")) \
        .test_client()
    assert "Alles über Landkreis Musterstadt." in client.get("/").get_data(as_text=True)


def test_the_default_description_promises_only_what_every_county_sends(client):
    page = client.get("/").get_data(as_text=True)
    lead = re.search(r'<p class="lead">([^<]*)</p>', page).group(1)
    assert lead == ("Wichtige Meldungen von Landkreis Musterstadt direkt auf Ihr Smartphone: "
                    "Warnungen, Sperrungen, Termine.")
    # Not every county posts jobs, or two to three times a week: CHANNEL_DESCRIPTION says so.
    assert "Stellenangebote" not in page and "in der Woche" not in page


def test_every_citizens_page_names_the_authority_as_the_start_page_does(client):
    for path in ("/", "/datenschutz", "/feed"):
        page = client.get(path).get_data(as_text=True)
        header = re.search(r'<header class="site-header">(.*?)</header>', page, re.S).group(1)
        assert '<p class="authority">Landkreis Musterstadt</p>' in header, path


def test_archive_shows_sent_broadcasts_only_and_never_recipients(app, client, citizen):
    erika = citizen()
    erika.send("Start")
    publish(app, "Straßensperrung Hauptstraße")
    publish(app, "Wird gerade gesendet", finish=False)
    with app.app_context():
        submit_broadcast({"text": "Noch in der Warteschlange"}, created_by="test")
        submit_broadcast({"text": "Später", "send_at": "2099-01-01T10:00"}, created_by="test")
        cancelled = submit_broadcast({"text": "Abgebrochen"}, created_by="test")
        with write(get_db()) as conn:
            broadcasts.cancel(conn, cancelled["id"])
    page = client.get("/").get_data(as_text=True)
    assert "Straßensperrung Hauptstraße" in page and "Wird gerade gesendet" in page
    for hidden in ("Noch in der Warteschlange", "Später", "Abgebrochen"):
        assert hidden not in page
    assert erika.number[-7:] not in page
    assert page.index("Wird gerade gesendet") < page.index("Straßensperrung Hauptstraße")


def test_archive_shows_broadcasts_stopped_after_some_citizens_got_them(app, client, citizen):
    for _ in range(2):
        citizen().send("Start")
    with app.app_context():
        half_cancelled = submit_broadcast({"text": "Halb gesendet, dann abgebrochen"},
                                          created_by="test")["id"]
        half_paused = submit_broadcast({"text": "Halb gesendet, dann pausiert"},
                                       created_by="test")["id"]
        paused_early = submit_broadcast({"text": "Pausiert, bevor etwas ankam"},
                                        created_by="test")["id"]
        with write(get_db()) as conn:
            for broadcast_id in (half_cancelled, half_paused, paused_early):
                first, second = deliveries.claim(conn, broadcast_id, 2, time.time())
                # The sender got one message out; the other was in flight and comes back.
                sent = [] if broadcast_id == paused_early else [
                    (f"SM{first.delivery_id:032x}", first.delivery_id)]
                retry = [(0, second.delivery_id)] + (
                    [(0, first.delivery_id)] if broadcast_id == paused_early else [])
                deliveries.record_outcomes(conn, sent=sent, failed=[], skipped=[],
                                           retry=retry, unknown_retries={})
            broadcasts.cancel(conn, half_cancelled)
            broadcasts.pause(conn, half_paused, "credentials (20003)")
            broadcasts.pause(conn, paused_early, "credentials (20003)")
    page = client.get("/").get_data(as_text=True)
    assert "Halb gesendet, dann abgebrochen" in page
    assert "Halb gesendet, dann pausiert" in page
    assert "Pausiert, bevor etwas ankam" not in page
    feed = client.get("/feed.xml").get_data(as_text=True)
    assert "Halb gesendet, dann abgebrochen" in feed and "Halb gesendet, dann pausiert" in feed
    assert "Pausiert, bevor etwas ankam" not in feed


def test_archive_pages_back_and_ignores_bad_input(app, client):
    for number in range(22):
        publish(app, f"Meldung Nummer {number:02d}")
    first = client.get("/").get_data(as_text=True)
    assert "Meldung Nummer 21" in first and "Meldung Nummer 01" not in first
    older = re.search(r'href="(/\?vor=\d+)#archiv"', first).group(1)
    assert "Meldung Nummer 01" in client.get(older).get_data(as_text=True)
    for query in ("?vor=abc", "?vor=-5", "?vor=99999999999999999999999"):
        assert client.get("/" + query).status_code == 200


def test_feed_is_valid_atom_with_the_sent_broadcasts(app, client):
    publish(app, "Erste Zeile als Titel\nund der Rest der Meldung")
    publish(app, "Steuerzeichen \x0b und <Spitze> & Klammern", urgent=True)
    with app.app_context():
        submit_broadcast({"text": "Unveröffentlicht"}, created_by="test")
    response = client.get("/feed.xml")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{tag}").text
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 2
    for entry in entries:
        for tag in ("id", "title", "updated", "content"):
            assert entry.find(f"{ATOM}{tag}").text
    newest, oldest = entries
    assert newest.find(f"{ATOM}title").text.startswith("Eilmeldung: ")
    assert "<Spitze> & Klammern" in newest.find(f"{ATOM}content").text
    assert oldest.find(f"{ATOM}title").text == "Erste Zeile als Titel"
    assert oldest.find(f"{ATOM}id").text.startswith("https://infokanal.example.de/#meldung-")
    assert b"Unver" not in response.data


def test_empty_feed_is_still_valid_atom(client):
    feed = ET.fromstring(client.get("/feed.xml").data)
    assert feed.find(f"{ATOM}updated").text and not feed.findall(f"{ATOM}entry")


def test_privacy_notice_has_a_sensible_default(client):
    response = client.get("/datenschutz")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Landkreis Musterstadt" in page and "Stop" in page and "<h2>" in page


def test_privacy_notice_comes_from_the_operators_file(config, tmp_path):
    path = tmp_path / "datenschutz.txt"
    path.write_text("## Eigene Überschrift\n\nUnser Text für {authority}.\n<b>kein HTML</b>",
                    encoding="utf-8")
    page = create_app(dict(config, PRIVACY_TEXT_FILE=str(path))).test_client() \
        .get("/datenschutz").get_data(as_text=True)
    assert "<h2>Eigene Überschrift</h2>" in page
    assert "Unser Text für Landkreis Musterstadt." in page
    assert "&lt;b&gt;kein HTML&lt;/b&gt;" in page


def test_missing_privacy_file_stops_the_start_with_a_clear_message(config, tmp_path):
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="PRIVACY_TEXT_FILE"):
        create_app(dict(config, PRIVACY_TEXT_FILE=str(tmp_path / "fehlt.txt")))


def test_privacy_notice_tells_of_reactions_and_poll_answers(client):
    """Emoji reactions and poll answers are kept under the keyed hash: the citizens' notice
    says so, and no longer that nothing of their messages is kept."""
    page = client.get("/datenschutz").get_data(as_text=True)
    assert "Den Inhalt Ihrer Nachrichten an uns speichern wir nicht" not in page
    for words in ("Emoji", "Umfrage", "gewählte Antwort", "nie mit der Nummer selbst", "„Stop“",
                  "Löschung", "spätestens 30 Tage nach dem Versand der Meldung"):
        assert words in page, words
