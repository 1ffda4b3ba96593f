"""A video and a PDF, end to end on each platform: uploaded through the Procfile's web process
(gunicorn), sent by its worker as production sends them, with the text templates configured
(BROADCAST_CONTENT_SID, META_TEMPLATE) and the approved templates with a media header of each
kind (BROADCAST_MEDIA_CONTENT_SID, META_MEDIA_TEMPLATE), to citizens who wrote "Start"; the
platform's fake (tests/fake_twilio.py, tests/fake_meta.py) holds the header to the template's
kind, fetches the file from /media/, checks its type and size as the platform does, and reports
it delivered. A file the platform would not take fails there; files the checks refuse are
refused through the same processes with their reasons, a 17 MB one before its body is read.
One deployment per platform, shared by the module's tests."""

import io
import json
import socket

import pytest
import requests
from PIL import Image

from tests import fake_meta, media_files
from tests.conftest import ADMIN_TOKEN, time_bound, wait_for
from tests.test_plan_end_to_end import Deployment, MetaSide, TwilioSide, settings

TEST_SECONDS = 90
CITIZENS = ("+4915111110001", "+4915111110002")
# Twilio's media contents (twilio/media, each approved for one kind of header) and Meta's
# templates with a media header, each with the text as its body's one variable.
TWILIO_MEDIA = {"image": "HXmediaimage", "video": "HXmediavideo", "document": "HXmediapdf"}
META_MEDIA = {"image": "infokanal_bild", "video": "infokanal_video",
              "document": "infokanal_pdf"}


def configure_media(side, web_url, kinds=None):
    """Tell the platform's fake which media templates are approved, and for which kind of
    header (``kinds``: kind → the header kind its template was approved for)."""
    kinds = kinds or {kind: kind for kind in TWILIO_MEDIA}
    if side.name == "twilio":
        side.fake.media_contents = {TWILIO_MEDIA[kind]: (header, f"{web_url}/media/{{{{2}}}}")
                                    for kind, header in kinds.items()}
        return
    templates = {fake_meta.TEMPLATE: {"language": "de", "parameters": 1}}
    templates.update({META_MEDIA[kind]: {"language": "de", "parameters": 1, "header": header}
                      for kind, header in kinds.items()})
    answer = requests.post(side.fake.url + "/_fake/config", json={"templates": templates},
                           timeout=10)
    assert answer.status_code == 200, answer.text


@pytest.fixture(autouse=True)
def bounded():
    with time_bound(TEST_SECONDS):
        yield


@pytest.fixture(scope="module", params=[TwilioSide, MetaSide], ids=["twilio", "meta"])
def county(request, tmp_path_factory):
    side_class = request.param
    media = TWILIO_MEDIA if side_class is TwilioSide else META_MEDIA
    setting = ("BROADCAST_MEDIA_CONTENT_SID" if side_class is TwilioSide
               else "META_MEDIA_TEMPLATE")
    env, side = settings(tmp_path_factory.mktemp(side_class.name), side_class, LANGUAGES="de",
                         **{setting: ",".join(f"{kind}={name}" for kind, name in media.items())})
    configure_media(side, env["PUBLIC_URL"])
    side.report(["sent", "delivered"])
    deployment = Deployment(env, side)
    for number in CITIZENS:
        deployment.writes(number, "Start")
    deployment.name = side.name
    yield deployment
    deployment.stop()


def upload(county, data, name):
    return requests.post(county.web.url + "/api/media", timeout=60,
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                         files={"file": (name, data)})


def sent_media(county, text):
    """What the fake took for the broadcast with ``text``: [(recipient, template, header kind,
    link, filename, error code)], refused requests included."""
    fake = county.side.fake
    if county.name == "twilio":
        refused = {sid: code for sid, code, _ in list(fake.refused)}
        return [(m["To"].removeprefix("whatsapp:"), m.get("ContentSid"), m.get("header"),
                 m.get("MediaUrl"), None, refused.get(m["sid"]))
                for m in list(fake.messages)
                if json.loads(m.get("ContentVariables") or "{}").get("1") == text]
    taken = [("+" + m["to"], m["template"], m.get("header"), [m["link"]], m.get("filename"),
              m.get("error_code")) for m in list(fake.messages)
             if m["type"] == "template" and (m["parameters"] or [None])[0] == text]
    return taken


def send(county, text, media_url):
    answer = county.post(text=text, media_url=media_url)
    return county.wait_status(answer["id"], "done"), answer


def failed_codes(county, broadcast_id):
    """The error codes of the broadcast's failed deliveries, by its own report."""
    wait_for(lambda: county.get(broadcast_id)["counts"]["failed"] == len(CITIZENS), timeout=30,
             message="both failed")
    broadcast = county.get(broadcast_id)
    assert broadcast["counts"]["delivered"] == 0
    return broadcast


@pytest.mark.parametrize("make, name, kind", [
    (lambda tmp: media_files.mp4(tmp), "Einsatz.mp4", "video"),
    (lambda tmp: media_files.pdf(), "Aushang Sperrung.pdf", "document"),
], ids=["video", "pdf"])
def test_a_video_and_a_pdf_go_out_as_the_media_template_fetched_and_delivered(
        county, tmp_path, make, name, kind):
    uploaded = upload(county, make(tmp_path), name)
    assert uploaded.status_code == 201, uploaded.text
    url = uploaded.json()["url"]
    text = f"Neu: {name}"
    done, answer = send(county, text, url)
    assert answer["plan"]["recipients"] == len(CITIZENS)
    taken = sent_media(county, text)
    assert sorted(recipient for recipient, *_ in taken) == sorted(CITIZENS)
    media = TWILIO_MEDIA if county.name == "twilio" else META_MEDIA
    for _, template, header, links, filename, _ in taken:
        assert (template, header, links) == (media[kind], kind, [url])
        if county.name == "meta":
            assert filename == (name if kind == "document" else None)
    wait_for(lambda: county.get(answer["id"])["counts"]["delivered"] == len(CITIZENS),
             timeout=30, message="both delivered")
    assert not [error for *_, error in taken if error]


def test_a_file_the_platform_cannot_fetch_fails_there(county):
    # An address under /media/ that names no stored file: the API takes it as a picture,
    # the platform fetches it, gets nothing and fails the message, as the real one does.
    text = "Bild, das es nicht gibt"
    done, answer = send(county, text, county.env["PUBLIC_URL"] + "/media/" + "0" * 32 + ".jpg")
    failed_codes(county, answer["id"])
    codes = {error for *_, error in sent_media(county, text)}
    assert codes == ({63019} if county.name == "twilio" else {131053})


def test_a_picture_through_a_template_approved_for_videos_fails_there(county):
    # The operator named a video template as image=…: WhatsApp holds the header to the kind
    # the template was approved for, and so do the fakes.
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 90, 160)).save(picture, "JPEG")
    url = upload(county, picture.getvalue(), "Karte.jpg").json()["url"]
    configure_media(county.side, county.env["PUBLIC_URL"],
                    {"image": "video", "video": "video", "document": "document"})
    try:
        text = "Bild durch die Video-Vorlage"
        done, answer = send(county, text, url)
        broadcast = failed_codes(county, answer["id"])
    finally:
        configure_media(county.side, county.env["PUBLIC_URL"])
    if county.name == "twilio":
        # Taken, the file fetched, and the message failed: not of the header's type.
        assert {error for *_, error in sent_media(county, text)} == {12300}
    else:
        # Refused at once: the header's parameter does not match the template's format.
        refused = [r for r in list(county.side.fake.refused)
                   if r["to"] in {c.lstrip("+") for c in CITIZENS} and r["code"] == 132012]
        assert len(refused) >= len(CITIZENS), broadcast


def test_an_address_elsewhere_is_refused_on_twilio_and_goes_as_a_picture_on_meta(county):
    # Twilio's media content names a fixed address of ours with the file's name as its
    # variable; Meta fetches any link.
    answer = county.api("POST", "/api/broadcasts",
                        json={"text": "Fremd", "media_url": "https://example.org/karte.jpg"})
    if county.name == "twilio":
        assert answer.status_code == 400
        assert answer.json()["error"].startswith("media_url must be a file uploaded here")
    else:
        assert answer.status_code == 202, answer.text
        county.wait_status(answer.json()["id"], "done")
        assert {template for _, template, *_ in sent_media(county, "Fremd")} == {
            META_MEDIA["image"]}


@pytest.mark.parametrize("make, name, reason", [
    (lambda tmp: media_files.EXE, "Einsatz.mp4",
     "not a JPEG or PNG picture, an MP4 video or a PDF"),
    (lambda tmp: media_files.mp4(tmp)[:-3000], "kurz.mp4", "the video"),
    (lambda tmp: media_files.pdf_bomb(), "bombe.pdf", "unpacks to more than"),
], ids=["renamed-exe", "truncated-mp4", "pdf-bomb"])
def test_bad_files_are_refused_with_reasons(county, tmp_path, make, name, reason):
    response = upload(county, make(tmp_path), name)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


def test_a_17_mb_file_is_refused_before_its_body_is_read(county):
    head = (f"POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            f"{ADMIN_TOKEN}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {17 * 1024 * 1024}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", county.web.port), timeout=10) as sock:
        sock.sendall(head + b"--x\r\n")
        answer = sock.makefile("rb").read(2000)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"at most 16 MB for a video or a PDF" in answer
