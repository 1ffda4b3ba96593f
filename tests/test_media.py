"""Pictures: uploaded through the API (and compose), re-encoded without EXIF, GPS or camera
data, served publicly for the platform to fetch, sent as the message's picture; anything that
is not a JPEG or PNG of at most 5 MB is refused with the reason."""

import io
import os
import re

import pytest
from PIL import Image, PngImagePlugin

from bot import images
from bot.store import retention
from tests.conftest import ADMIN_TOKEN, PUBLIC_URL, database, scalar
from tests.test_images_fuzz import png_header, photo_with_gps_of_another_type

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GPS = {1: "N", 2: (53.0, 13.0, 42.0), 3: "E", 4: (8.0, 47.0, 11.0)}


def phone_photo(size=(120, 80), kind="JPEG"):
    """A picture as a phone writes it: maker, model, a time, where it was taken, turned."""
    picture = Image.new("RGB", size, (180, 40, 40))
    exif = Image.Exif()
    exif[0x010F] = "Handyhersteller"
    exif[0x0110] = "Modell X"
    exif[0x0132] = "2026:11:24 07:12:00"
    exif[0x0112] = 6  # taken turned: shown rotated by 90°
    exif[0x8825] = GPS
    out = io.BytesIO()
    if kind == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Author", "Erika Presse")
        picture.save(out, "PNG", exif=exif.tobytes(), pnginfo=info)
    else:
        picture.save(out, "JPEG", exif=exif.tobytes(), comment=b"Erika Presse")
    return out.getvalue()


def upload(client, data, name="foto.jpg", headers=AUTH):
    return client.post("/api/media", data={"file": (io.BytesIO(data), name)}, headers=headers,
                       content_type="multipart/form-data")


def assert_clean(data):
    for trace in (b"Handyhersteller", b"Modell X", b"Erika Presse", b"2026:11:24", b"Exif",
                  b"eXIf"):
        assert trace not in data
    shown = Image.open(io.BytesIO(data))
    assert dict(shown.getexif()) == {} and shown.getexif().get_ifd(0x8825) == {}
    return shown


@pytest.mark.parametrize("kind, name, content_type", [("JPEG", "foto.jpg", "image/jpeg"),
                                                       ("PNG", "grafik.png", "image/png")])
def test_an_uploaded_picture_is_served_publicly_without_its_metadata(client, kind, name,
                                                                     content_type):
    response = upload(client, phone_photo(kind=kind), name)
    assert response.status_code == 201
    url = response.json["url"]
    assert url.startswith(f"{PUBLIC_URL}/media/") and set(response.json) == {"url"}
    served = client.get(url.removeprefix(PUBLIC_URL))  # no token: the platform fetches it
    assert served.status_code == 200 and served.mimetype == content_type
    assert "immutable" in served.headers["Cache-Control"]
    shown = assert_clean(served.data)
    # The orientation tag was applied to the pixels before it went: still upright.
    assert shown.size == (80, 120)


def test_the_same_picture_twice_is_stored_once(app, client):
    first, second = (upload(client, phone_photo()).json["url"] for _ in range(2))
    assert first == second and scalar(app, "SELECT count(*) FROM media") == 1


@pytest.mark.parametrize("data, name, reason", [
    (b"", "leer.jpg", "empty"),
    (b"MZ\x90\x00\x03" + b"\0" * 200, "brief.pdf", "not a JPEG or PNG picture, an MP4 video or a PDF"),
    (b"%PDF-1.7 ein Dokument", "brief.pdf", "the PDF cannot be read"),
    (b"\xff\xd8\xff\xe0" + b"kaputt" * 20, "kaputt.jpg", "cannot be read"),
])
def test_a_file_that_is_not_such_a_picture_is_400_with_the_reason(app, client, data, name,
                                                                   reason):
    response = upload(client, data, name)
    assert response.status_code == 400 and reason in response.json["error"]
    assert scalar(app, "SELECT count(*) FROM media") == 0


def test_a_photo_with_a_gps_field_of_another_type_is_taken_not_a_500(app, client):
    response = upload(client, photo_with_gps_of_another_type())
    assert response.status_code == 201
    served = client.get(response.json["url"].removeprefix(PUBLIC_URL))
    assert assert_clean(served.data).size == (20, 30)


def test_a_picture_above_40_megapixels_is_refused_with_the_reason(app, client, console):
    response = upload(client, png_header(9000, 5000), "riesig.png")
    assert response.status_code == 400
    assert response.json["error"] == ("the picture has 9000 × 5000 pixels (45.0 megapixels); "
                                      "at most 40 megapixels are accepted")
    page = console.client.post("/admin/compose", data={
        "csrf_token": console.token("/admin/compose"), "text": "Mit Riesenbild",
        "image": (io.BytesIO(png_header(9000, 5000)), "riesig.png")},
        content_type="multipart/form-data")
    assert page.status_code == 400
    assert "zu viele Bildpunkte: höchstens 40 Megapixel" in page.get_data(as_text=True)
    assert scalar(app, "SELECT count(*) FROM media") == 0


def test_a_damaged_picture_in_the_console_is_explained_in_german(console):
    page = console.client.post("/admin/compose", data={
        "csrf_token": console.token("/admin/compose"), "text": "Mit kaputtem Bild",
        "image": (io.BytesIO(phone_photo()[:300]), "kaputt.jpg")},
        content_type="multipart/form-data")
    assert page.status_code == 400
    assert "oder sie ist beschädigt" in page.get_data(as_text=True)


def test_gif_and_other_formats_are_refused(client):
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "GIF")
    response = upload(client, out.getvalue(), "bild.gif")
    assert response.status_code == 400 and "not a JPEG or PNG" in response.json["error"]


def test_a_picture_over_5_mb_is_refused(client):
    too_big = b"\xff\xd8" + b"\0" * images.MAX_BYTES
    response = upload(client, too_big)
    assert response.status_code == 400 and "5 MB" in response.json["error"]


def test_an_upload_needs_the_token_and_the_field(client):
    assert upload(client, phone_photo(), headers={}).status_code == 401
    missing = client.post("/api/media", data={"other": "x"}, headers=AUTH)
    assert missing.status_code == 400 and '"file"' in missing.json["error"]


def test_unknown_media_names_are_404(client):
    for path in ("/media/0123456789abcdef0123456789abcdef.jpg", "/media/../../etc/passwd",
                 "/media/x.gif"):
        assert client.get(path).status_code == 404


def test_a_broadcast_with_the_picture_sends_it_to_the_platform(app, client, citizen, twilio_api):
    citizen().send("Start")
    url = upload(client, phone_photo()).json["url"]
    answer = client.post("/api/broadcasts", json={"text": "Sperrung", "media_url": url},
                         headers=AUTH)
    assert answer.status_code == 202
    with app.app_context():
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
    [message] = twilio_api.messages
    assert message["MediaUrl"] == [url] and message["Body"] == "Sperrung"


def test_uploads_no_broadcast_shows_are_removed_a_day_later(app, client):
    from datetime import datetime, timedelta, timezone

    used = upload(client, phone_photo()).json["url"]
    upload(client, phone_photo(size=(60, 60)))
    client.post("/api/broadcasts", json={"text": "Mit Bild", "media_url": used}, headers=AUTH)
    young = retention.cleanup(database(app), app.config)
    assert young["media_unused"] == 0
    later = datetime.now(timezone.utc) + timedelta(days=2)
    assert retention.cleanup(database(app), app.config, now=later)["media_unused"] == 1
    assert scalar(app, "SELECT count(*) FROM media") == 1
    assert client.get(used.removeprefix(PUBLIC_URL)).status_code == 200


def test_compose_takes_a_picture_larger_than_other_forms_may_be(console):
    # Noise does not compress: a PNG of it is as large as its pixels.
    noise = Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    assert len(out.getvalue()) > 1024 * 1024  # four times what any other form may carry
    response = console.client.post("/admin/compose", data={
        "csrf_token": console.token("/admin/compose"), "text": "Mit großem Bild",
        "image": (io.BytesIO(out.getvalue()), "gross.png")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:300]
    assert re.search(r'<img class="picture" id="preview-picture" alt="Bild der Meldung" '
                     r'src="/media/[0-9a-f]{32}\.png">', page)


def test_other_console_forms_keep_their_small_limit(console):
    response = console.client.post("/admin/broadcasts/1/draft", data={
        "csrf_token": console.token("/admin/compose"), "text": "x" * (300 * 1024)})
    assert response.status_code == 413
