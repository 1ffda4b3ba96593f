"""Videos and PDFs besides pictures: an MP4 with H.264 and AAC, or a PDF, of at most 16 MB,
checked (ffprobe; pypdf in a process with limits), written anew without who made it and where,
served publicly with its type and how to show it, sent as what it is, previewed in the console;
anything else refused with the reason."""

import io
import json

import pypdf
import pytest

from bot import documents, uploads, videos
from bot.platforms.base import OutgoingMessage
from bot.platforms.meta import MetaTransport
from tests import media_files
from tests.conftest import ADMIN_TOKEN, PUBLIC_URL, rows, scalar

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def upload(client, data, name):
    return client.post("/api/media", data={"file": (io.BytesIO(data), name)}, headers=AUTH,
                       content_type="multipart/form-data")


def served(client, url):
    return client.get(url.removeprefix(PUBLIC_URL))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return media_files.mp4(tmp_path_factory.mktemp("video"))


def test_a_video_is_served_inline_without_its_metadata_and_with_a_poster(client, video):
    response = upload(client, video, "Einsatz.mp4")
    assert response.status_code == 201, response.json
    url = response.json["url"]
    assert url.startswith(f"{PUBLIC_URL}/media/") and url.endswith(".mp4")
    answer = served(client, url)
    assert answer.status_code == 200 and answer.mimetype == "video/mp4"
    assert answer.headers["Content-Disposition"] == "inline"
    assert "immutable" in answer.headers["Cache-Control"]
    assert not [trace for trace in media_files.TRACES if trace in answer.data]
    # Still the video it was: the same packets, checked again.
    assert videos.clean(answer.data).seconds == pytest.approx(1.0, abs=0.1)
    poster = served(client, url.removesuffix(".mp4") + "-poster.jpg")
    assert poster.status_code == 200 and poster.mimetype == "image/jpeg"
    assert poster.data.startswith(b"\xff\xd8")
    # A browser's player may ask for a part.
    part = client.get(url.removeprefix(PUBLIC_URL), headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.data) == 100


def test_a_pdf_is_served_with_its_name_without_author_producer_or_xmp(client):
    original = media_files.pdf()
    assert all(trace in original for trace in (b"Erika Presse", b"Amtsdrucker 3000"))
    response = upload(client, original, "Sperrung B6 neu.PDF")
    assert response.status_code == 201, response.json
    answer = served(client, response.json["url"])
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert answer.headers["Content-Disposition"] == 'inline; filename="Sperrung B6 neu.pdf"'
    assert not [trace for trace in media_files.TRACES if trace in answer.data]
    reader = pypdf.PdfReader(io.BytesIO(answer.data))
    assert len(reader.pages) == 2 and reader.metadata is None and reader.xmp_metadata is None


def test_the_same_pdf_uploaded_under_two_names_is_served_under_each(client, app):
    pdf = media_files.pdf(pages=1)
    first = upload(client, pdf, "Entwurf intern Herr Meier.pdf").json["url"]
    second = upload(client, pdf, "Flyer Wochenmarkt.pdf").json["url"]
    again = upload(client, pdf, "Flyer Wochenmarkt.pdf").json["url"]
    assert first != second == again  # the same file under the same name is stored once
    assert served(client, first).headers["Content-Disposition"] == \
        'inline; filename="Entwurf intern Herr Meier.pdf"'
    assert served(client, second).headers["Content-Disposition"] == \
        'inline; filename="Flyer Wochenmarkt.pdf"'
    # A file stored under a name made of its bytes alone (before names were hashed too) is
    # served by that name as before, with its own file name.
    older = "0123456789abcdef0123456789abcdef.pdf"
    data = served(client, second).data
    rows(app, "INSERT INTO media (name, content_type, data, created_at, filename, pages) "
              "VALUES (?, 'application/pdf', ?, '2026-01-01T00:00:00Z', 'Alt.pdf', 1)",
         older, data)
    assert served(client, PUBLIC_URL + "/media/" + older).headers["Content-Disposition"] == \
        'inline; filename="Alt.pdf"'


def test_a_pdf_keeps_its_web_links_but_no_comments_attachments_beads_or_thumbnail(client):
    original = media_files.pdf(pages=1)
    assert all(trace in original for trace in (b"Interne Notiz", b"0151 2345678", b"/Thumb"))
    answer = served(client, upload(client, original, "Sperrung.pdf").json["url"])
    assert not [trace for trace in media_files.TRACES if trace in answer.data]
    page = pypdf.PdfReader(io.BytesIO(answer.data)).pages[0]
    assert "/B" not in page and "/Thumb" not in page
    annotations = [a.get_object() for a in page["/Annots"]]
    assert [(a["/Subtype"], a["/A"]["/S"], a["/A"]["/URI"]) for a in annotations] == [
        ("/Link", "/URI", media_files.PDF_LINK)]
    assert not {"/T", "/Contents", "/Popup"} & set(annotations[0])
    assert b"/EmbeddedFile" not in answer.data and b"/JavaScript" not in answer.data


def test_a_pdf_name_outside_ascii_is_given_as_rfc_5987(client):
    response = upload(client, media_files.pdf(pages=1), "Straßensperrung.pdf")
    disposition = served(client, response.json["url"]).headers["Content-Disposition"]
    assert "filename*=UTF-8''Stra%C3%9Fensperrung.pdf" in disposition


@pytest.mark.parametrize("make, name, reason", [
    (lambda tmp: media_files.EXE, "video.mp4",
     "not a JPEG or PNG picture, an MP4 video or a PDF"),
    (lambda tmp: media_files.mp4(tmp)[:-3000], "kurz.mp4", "the video"),
    (lambda tmp: media_files.mp4(tmp, faststart=False)[:-3000], "kurz.mp4",
     "the video cannot be read"),
    (lambda tmp: media_files.mp4(tmp, audio="mp3"), "ton.mp4", "only AAC audio"),
    (lambda tmp: media_files.pdf_bomb(), "bombe.pdf", "unpacks"),
    (lambda tmp: media_files.pdf_of_ten_billion_pages(), "seiten.pdf",
     "has 10000000000 pages; at most 500"),
    (lambda tmp: media_files.pdf_that_hides_its_pages(), "seiten.pdf",
     "has 10000 pages; at most 500"),
    (lambda tmp: media_files.pdf_nested(), "tief.pdf", "the PDF"),
    (lambda tmp: media_files.pdf()[:-400], "kurz.pdf", "the PDF cannot be read"),
], ids=["renamed-exe", "truncated-mp4", "truncated-mp4-index-last", "mp3-audio", "pdf-bomb",
        "ten-billion-pages", "hidden-pages", "nested", "truncated-pdf"])
def test_anything_else_is_400_with_the_reason_and_nothing_stored(app, client, tmp_path, make,
                                                                  name, reason):
    response = upload(client, make(tmp_path), name)
    assert response.status_code == 400, response.json
    assert reason in response.json["error"]
    assert scalar(app, "SELECT count(*) FROM media") == 0


def test_a_phone_photo_in_heic_is_told_apart_from_a_video(client):
    heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 200
    response = upload(client, heic, "IMG_0001.HEIC")
    assert response.status_code == 400
    assert response.json["error"].startswith("the file is not a JPEG or PNG picture")


def test_a_truncated_mp4_says_the_file_is_incomplete(client, video):
    response = upload(client, video[:-3000], "kurz.mp4")
    assert response.status_code == 400
    assert response.json["error"] in ("the video cannot be read (damaged or incomplete)",
                                      "the video is incomplete: the file ends before its last "
                                      "frame")


def test_a_file_over_16_mb_is_refused_before_it_is_read(app, client):
    seventeen = b"\0\0\0\x18ftypmp42" + b"\0" * (17 * 1024 * 1024)
    response = upload(client, seventeen, "gross.mp4")
    assert response.status_code == 413
    assert "at most 16 MB for a video or a PDF" in response.json["error"]
    # Within the request's limit but over the file's: the check's own reason.
    just_over = b"%PDF-1.7\n" + b"\0" * uploads.MAX_BYTES
    response = upload(client, just_over, "gross.pdf")
    assert response.status_code == 400 and "(16 MB)" in response.json["error"]
    assert scalar(app, "SELECT count(*) FROM media") == 0


def test_a_check_that_runs_out_of_time_is_a_refusal_not_a_500(client, monkeypatch):
    monkeypatch.setattr(uploads, "CHECK_SECONDS", 0.05)
    response = upload(client, media_files.pdf(), "langsam.pdf")
    assert response.status_code == 400
    assert response.json["error"].startswith("the PDF is too complex to check")


def test_the_file_name_a_phone_shows_is_made_safe():
    assert documents.safe_filename("../../etc/passwd") == "passwd.pdf"
    assert documents.safe_filename("Aushang\x00\n.pdf") == "Aushang.pdf"
    assert documents.safe_filename('C:\\Amt\\Sperrung "neu".PDF') == "Sperrung neu.pdf"
    assert documents.safe_filename(None) == "Dokument.pdf"
    assert documents.safe_filename("  .pdf") == "Dokument.pdf"
    assert len(documents.safe_filename("x" * 300 + ".pdf")) == 100


def test_meta_sends_a_video_as_video_and_a_pdf_as_a_document_with_its_name():
    transport = MetaTransport("token", "123")

    def body(**media):
        return json.loads(transport.body(OutgoingMessage(
            to="+4915112345678", body="Sperrung", media_url="https://k.example/media/a.x",
            **media)))

    video = body(media_type="video/mp4")
    assert video["type"] == "video"
    assert video["video"] == {"link": "https://k.example/media/a.x", "caption": "Sperrung"}
    document = body(media_type="application/pdf", media_filename="Sperrung B6.pdf")
    assert document["type"] == "document" and document["document"] == {
        "link": "https://k.example/media/a.x", "caption": "Sperrung",
        "filename": "Sperrung B6.pdf"}
    assert body()["type"] == "image"  # an address we did not store: a picture, as before


def test_compose_previews_a_video_with_its_poster_and_a_pdf_with_name_and_pages(console, video):
    def compose(data, name):
        return console.client.post("/admin/compose", data={
            "csrf_token": console.token("/admin/compose"), "text": "Mit Anhang",
            "image": (io.BytesIO(data), name)}, content_type="multipart/form-data")

    page = compose(video, "Einsatz.mp4").get_data(as_text=True)
    assert '<video class="picture" id="preview-video" controls preload="none" src="/media/' \
        in page
    assert '-poster.jpg" aria-label="Video der Meldung">' in page
    assert "Video, 0:01, 15 KB" in page or "Video, 0:01," in page
    page = compose(media_files.pdf(pages=3), "Aushang Kreis.pdf").get_data(as_text=True)
    assert ">Aushang Kreis.pdf</a>" in page and "PDF, 3 Seiten, " in page


def test_the_console_explains_a_refused_video_in_german(console, tmp_path):
    page = console.client.post("/admin/compose", data={
        "csrf_token": console.token("/admin/compose"), "text": "Mit Video",
        "image": (io.BytesIO(media_files.mp4(tmp_path, audio="mp3")), "ton.mp4")},
        content_type="multipart/form-data")
    assert page.status_code == 400
    assert "H.264-Bild und AAC-Ton" in page.get_data(as_text=True)


def test_on_meta_a_broadcast_with_media_is_refused_not_sent_as_text_alone(config, video):
    """Every broadcast goes out on Meta as the text template (META_TEMPLATE), which carries no
    media: without a media template of its kind (META_MEDIA_TEMPLATE) a video is refused with
    the setting to set, instead of sending the text without it (test_media_templates.py has
    the rest)."""
    from bot import create_app
    from tests.test_meta_webhook import meta_settings

    meta = create_app(meta_settings(config)).test_client()
    url = upload(meta, video, "Einsatz.mp4").json["url"]
    response = meta.post("/api/broadcasts", json={"text": "Mit Video", "media_url": url},
                         headers=AUTH)
    assert response.status_code == 400
    assert "set META_MEDIA_TEMPLATE with video=…" in response.json["error"]


def test_the_public_page_names_a_video_and_a_pdf_as_what_they_are(app, client, citizen, video):
    citizen().send("Start")
    for data, name, shown in ((video, "Einsatz.mp4", "Video zur Meldung ansehen</a> (0:01 "
                               "Minuten"),
                              (media_files.pdf(pages=1), "Aushang.pdf",
                               "PDF zur Meldung: Aushang.pdf</a> (1 Seite, ")):
        url = upload(client, data, name).json["url"]
        answer = client.post("/api/broadcasts", json={"text": f"Mit {name}", "media_url": url},
                             headers=AUTH)
        assert answer.status_code == 202, answer.json
        with app.app_context():
            assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
        assert shown in client.get("/").get_data(as_text=True)
