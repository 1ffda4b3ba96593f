"""A video and a PDF, end to end: uploaded through the Procfile's web process (gunicorn), sent
by its worker in free-form mode to citizens who wrote "Start", fetched from /media/ by the
platform's fake (tests/fake_twilio.py), which checks type and size as Twilio does, and
reported delivered. Files the checks refuse are refused through the same processes with their
reasons, a 17 MB one before its body is read. One deployment, shared by the module's tests.

On Meta every broadcast goes out as the text template (META_TEMPLATE is required there), which
carries no media: one with a video or PDF (or a picture) is refused with the reason
(test_media_kinds.py); sending them would need an approved template with a media header, which
is not built. What Meta is sent in free-form mode is tested on the transport's request body."""

import requests
import pytest

from tests import media_files
from tests.conftest import ADMIN_TOKEN, time_bound, wait_for
from tests.test_plan_end_to_end import Deployment, TwilioSide, settings

TEST_SECONDS = 90
CITIZENS = ("+4915111110001", "+4915111110002")
# Free-form mode: media go out only without the text template (as pictures do).
TEMPLATE_SETTINGS = ("BROADCAST_CONTENT_SID", "BROADCAST_CONTENT_SID_EN", "META_TEMPLATE",
                     "META_TEMPLATE_EN")


@pytest.fixture(autouse=True)
def bounded():
    with time_bound(TEST_SECONDS):
        yield


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    side_name = TwilioSide.name
    env, side = settings(tmp_path_factory.mktemp(side_name), TwilioSide, LANGUAGES="de")
    for key in TEMPLATE_SETTINGS:
        env.pop(key, None)
    side.report(["sent", "delivered"])
    deployment = Deployment(env, side)
    for number in CITIZENS:
        deployment.writes(number, "Start")
    deployment.name = side_name
    yield deployment
    deployment.stop()


def upload(county, data, name):
    return requests.post(county.web.url + "/api/media", timeout=60,
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                         files={"file": (name, data)})


def sent_media(county, broadcast):
    """What the fake took for the broadcast: [(recipient, kind, link, filename, error)]."""
    fake = county.side.fake
    if county.name == "twilio":
        refused = {sid: code for sid, code, _ in list(fake.refused)}
        return [(m["To"].removeprefix("whatsapp:"), None, m["MediaUrl"], None,
                 refused.get(m["sid"])) for m in list(fake.messages)
                if m.get("Body") == broadcast["text"]]
    return [("+" + m["to"], m["type"], [m["link"]], m.get("filename"), m.get("error_code"))
            for m in list(fake.messages) if m.get("caption") == broadcast["text"]]


def send(county, text, media_url):
    answer = county.post(text=text, media_url=media_url)
    return county.wait_status(answer["id"], "done"), answer


@pytest.mark.parametrize("make, name, kind", [
    (lambda tmp: media_files.mp4(tmp), "Einsatz.mp4", "video"),
    (lambda tmp: media_files.pdf(), "Aushang Sperrung.pdf", "document"),
], ids=["video", "pdf"])
def test_a_video_and_a_pdf_are_accepted_sent_fetched_and_delivered(county, tmp_path, make,
                                                                   name, kind):
    uploaded = upload(county, make(tmp_path), name)
    assert uploaded.status_code == 201, uploaded.text
    url = uploaded.json()["url"]
    text = f"Neu: {name}"
    done, answer = send(county, text, url)
    assert answer["plan"]["recipients"] == len(CITIZENS)
    taken = sent_media(county, {"text": text})
    assert sorted(recipient for recipient, *_ in taken) == sorted(CITIZENS)
    for _, meta_kind, links, filename, _ in taken:
        assert links == [url]
        if county.name == "meta":
            assert meta_kind == kind
            assert filename == (name if kind == "document" else None)
    wait_for(lambda: county.get(answer["id"])["counts"]["delivered"] == len(CITIZENS),
             timeout=30, message="both delivered")
    assert not [error for *_, error in taken if error]


def test_a_file_the_platform_would_not_take_fails_there(county):
    # The county's privacy page (HTML) named as a picture: the API cannot know, the
    # platform fetches it and fails the message, as the real one does.
    text = "Bild, das keines ist"
    done, answer = send(county, text, county.web.url + "/datenschutz")
    failed = wait_for(lambda: (b := county.get(answer["id"]))["counts"]["failed"]
                      == len(CITIZENS) and b, timeout=30, message="both failed")
    assert failed["counts"]["delivered"] == 0
    codes = {error for *_, error in sent_media(county, {"text": text})}
    assert codes == ({12300} if county.name == "twilio" else {131053})


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
    import socket

    head = (f"POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            f"{ADMIN_TOKEN}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {17 * 1024 * 1024}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", county.web.port), timeout=10) as sock:
        sock.sendall(head + b"--x\r\n")
        answer = sock.makefile("rb").read(2000)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"at most 16 MB for a video or a PDF" in answer
