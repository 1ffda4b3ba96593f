"""A picture, video or PDF with a broadcast where broadcasts go out as the text template (as
production on Meta requires): sent as an approved template with a media header of the file's
kind (BROADCAST_MEDIA_CONTENT_SID on Twilio, META_MEDIA_TEMPLATE on Meta, per language), and
refused with the setting to set where that kind has none. The settings, the rule, what each
platform is sent, and the fakes holding the header to the template's kind as WhatsApp does."""

import io
import json

import pytest

from bot import config as settings_module
from bot.platforms.base import OutgoingMessage, SendError
from bot.platforms.meta import MetaTransport
from bot.platforms.twilio import send_messages
from tests import media_files
from tests.conftest import ACCOUNT_SID, ADMIN_TOKEN, AUTH_TOKEN, COUNTY_NUMBER, PUBLIC_URL
from tests.fake_meta import FakeMeta
from tests.test_fake_meta import send as post_to_meta
from tests.test_meta_webhook import meta_settings

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
VIDEO_SID, DOCUMENT_SID = "HXmediavideo", "HXmediadocument"


def upload(client, data, name):
    response = client.post("/api/media", data={"file": (io.BytesIO(data), name)},
                           headers=AUTH, content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    return response.json["url"]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return media_files.mp4(tmp_path_factory.mktemp("video"))


def load(**values):
    return settings_module.load("/tmp", test_config={"PUBLIC_URL": PUBLIC_URL, **values})


# --- the settings ----------------------------------------------------------------------------

def test_the_media_templates_are_read_per_kind_and_language():
    loaded = load(LANGUAGES="de,en,de-LS", BROADCAST_CONTENT_SID="HXde",
                  BROADCAST_MEDIA_CONTENT_SID="image=HXbild, video=HXvideo,document=HXpdf",
                  BROADCAST_CONTENT_SID_EN="HXen", BROADCAST_MEDIA_CONTENT_SID_EN="video=HXvid",
                  BROADCAST_CONTENT_SID_DE_LS="HXls", BROADCAST_MEDIA_CONTENT_SID_DE_LS="image=HXl")
    assert loaded["MEDIA_CONTENT_SIDS"] == {
        None: {"image": "HXbild", "video": "HXvideo", "document": "HXpdf"},
        "en": {"video": "HXvid"}, "de-LS": {"image": "HXl"}}
    meta = load(WHATSAPP_PLATFORM="meta", LANGUAGES="de,en", META_TEMPLATE="meldung",
                META_MEDIA_TEMPLATE="document=meldung_pdf", META_TEMPLATE_EN="notice",
                META_MEDIA_TEMPLATE_EN="image=notice_picture")
    assert meta["META_MEDIA_TEMPLATES"] == {None: {"document": "meldung_pdf"},
                                            "en": {"image": "notice_picture"}}


@pytest.mark.parametrize("values, reason", [
    (dict(BROADCAST_CONTENT_SID="HXde", BROADCAST_MEDIA_CONTENT_SID="audio=HX1"),
     "BROADCAST_MEDIA_CONTENT_SID holds 'audio=HX1': write each approved template with a media "
     "header as <kind>=<its content SID or name>, the kind image, video or document"),
    (dict(BROADCAST_CONTENT_SID="HXde", BROADCAST_MEDIA_CONTENT_SID="video=HX1,video=HX2"),
     "BROADCAST_MEDIA_CONTENT_SID holds 'video=HX2'"),
    (dict(BROADCAST_MEDIA_CONTENT_SID="video=HX1"),
     "BROADCAST_MEDIA_CONTENT_SID is set but BROADCAST_CONTENT_SID is not"),
    (dict(LANGUAGES="de,en", BROADCAST_CONTENT_SID="HXde",
          BROADCAST_MEDIA_CONTENT_SID_EN="video=HX1"),
     "BROADCAST_MEDIA_CONTENT_SID_EN is set but BROADCAST_CONTENT_SID_EN is not"),
    (dict(BROADCAST_CONTENT_SID="HXde", BROADCAST_MEDIA_CONTENT_SID="video=HX1", PUBLIC_URL=""),
     "BROADCAST_MEDIA_CONTENT_SID is set but PUBLIC_URL is not"),
    (dict(WHATSAPP_PLATFORM="meta", META_TEMPLATE="meldung",
          META_MEDIA_TEMPLATE="video=Meldung Video"),
     "META_MEDIA_TEMPLATE holds 'video=Meldung Video'"),
], ids=["kind", "twice", "no-text-template", "language", "no-public-url", "meta-name"])
def test_a_media_template_setting_that_cannot_work_stops_the_start(values, reason):
    with pytest.raises(settings_module.ConfigError) as raised:
        load(**values)
    assert reason in str(raised.value)


# --- what a broadcast may carry ------------------------------------------------------------

def post(client, text, media_url):
    return client.post("/api/broadcasts", json={"text": text, "media_url": media_url},
                       headers=AUTH)


def test_on_twilio_a_file_goes_with_the_text_template_when_its_kind_has_a_media_template(
        config, video):
    from bot import create_app

    client = create_app(dict(config, BROADCAST_CONTENT_SID="HXtext",
                             BROADCAST_MEDIA_CONTENT_SID=f"video={VIDEO_SID}")).test_client()
    assert post(client, "Mit Video", upload(client, video, "Einsatz.mp4")).status_code == 202
    pdf = post(client, "Mit PDF", upload(client, media_files.pdf(), "Aushang.pdf"))
    assert pdf.status_code == 400
    assert pdf.json["error"] == (
        "media_url cannot be sent with the text template (BROADCAST_CONTENT_SID), which "
        "carries no PDF: set BROADCAST_MEDIA_CONTENT_SID with document=… (an approved "
        "template with a document header), or send the text alone")
    # The content's address is ours with the file's name as its variable: another address
    # cannot fill it.
    foreign = post(client, "Fremdes Bild", "https://example.org/bild.mp4")
    assert foreign.status_code == 400
    assert foreign.json["error"].startswith("media_url must be a file uploaded here")
    # The template variable's limit still holds for the text.
    long = post(client, "x" * 925, upload(client, video, "Einsatz.mp4"))
    assert long.status_code == 400 and "may have at most 924" in long.json["error"]


def test_on_meta_a_file_goes_with_the_text_template_when_its_kind_has_a_media_template(
        config, video):
    from bot import create_app

    client = create_app(meta_settings(dict(
        config, META_MEDIA_TEMPLATE="image=meldung_bild,video=meldung_video"))).test_client()
    assert post(client, "Mit Video", upload(client, video, "Einsatz.mp4")).status_code == 202
    # Meta fetches any address: a picture elsewhere goes as the picture template.
    assert post(client, "Bild", "https://example.org/bild.jpg").status_code == 202
    pdf = post(client, "Mit PDF", upload(client, media_files.pdf(), "Aushang.pdf"))
    assert pdf.status_code == 400
    assert "set META_MEDIA_TEMPLATE with document=…" in pdf.json["error"]


# --- what each platform is sent ------------------------------------------------------------

def meta_body(transport, **message):
    return json.loads(transport.body(OutgoingMessage(to="+4915112345678", **message)))


def test_meta_is_sent_the_media_template_with_the_file_as_its_header():
    transport = MetaTransport("token", "123", template="meldung", template_language="de",
                              template_names={"en": "notice", "de-LS": "meldung_ls"},
                              media_names={None: {"video": "meldung_video",
                                                  "document": "meldung_pdf"},
                                           "en": {"document": "notice_pdf"},
                                           "de-LS": {"image": "meldung_ls_bild"}})
    video = meta_body(transport, body="Absatz eins\n\nAbsatz zwei",
                      media_url="https://x.de/media/a.mp4", media_type="video/mp4")
    assert video["type"] == "template"
    assert video["template"] == {"name": "meldung_video", "language": {"code": "de"},
                                 "components": [
        {"type": "header", "parameters": [
            {"type": "video", "video": {"link": "https://x.de/media/a.mp4"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Absatz eins. Absatz zwei"}]}]}
    english = meta_body(transport, body="Notice", language="en", media_url="https://x.de/b.pdf",
                        media_type="application/pdf", media_filename="Aushang.pdf")
    assert english["template"]["name"] == "notice_pdf"
    assert english["template"]["language"] == {"code": "en"}
    assert english["template"]["components"][0]["parameters"] == [
        {"type": "document", "document": {"link": "https://x.de/b.pdf",
                                          "filename": "Aushang.pdf"}}]
    easy = meta_body(transport, body="Leicht", language="de-LS", media_url="https://x.de/c.jpg")
    assert easy["template"]["name"] == "meldung_ls_bild"
    assert easy["template"]["language"] == {"code": "de"}
    assert easy["template"]["components"][0]["parameters"][0]["type"] == "image"
    # A kind without its template is not sent as text alone.
    with pytest.raises(SendError) as refused:
        meta_body(transport, body="Bild", media_url="https://x.de/c.jpg")
    assert "META_MEDIA_TEMPLATE" in str(refused.value)


def test_twilio_is_sent_the_media_content_with_the_files_name_as_its_variable(twilio_api):
    twilio_api.media_contents = {VIDEO_SID: ("video", f"{PUBLIC_URL}/media/{{{{2}}}}"),
                                 "HXenpdf": ("document", f"{PUBLIC_URL}/media/{{{{2}}}}")}
    messages = [
        OutgoingMessage(to="+4915112345678", body="Zeile eins\nZeile zwei",
                        media_url=f"{PUBLIC_URL}/media/abc.mp4", media_type="video/mp4"),
        OutgoingMessage(to="+4915112345679", body="Notice", language="en",
                        media_url=f"{PUBLIC_URL}/media/def.pdf", media_type="application/pdf"),
        OutgoingMessage(to="+4915112345670", body="Fremd", media_url="https://example.org/a.mp4",
                        media_type="video/mp4"),
    ]
    results = send_messages(messages, ACCOUNT_SID, AUTH_TOKEN, COUNTY_NUMBER,
                            api_url=twilio_api.url, content_sid="HXtext",
                            content_sids={"en": "HXen"},
                            media_sids={None: {"video": VIDEO_SID}, "en": {"document": "HXenpdf"}},
                            media_base=f"{PUBLIC_URL}/media/")
    assert all(isinstance(result, str) for result in results[:2]), results
    assert isinstance(results[2], SendError) and "uploaded here" in str(results[2])
    sent = {m["To"]: m for m in twilio_api.messages}
    german, english = sent["whatsapp:+4915112345678"], sent["whatsapp:+4915112345679"]
    assert german["ContentSid"] == VIDEO_SID and "Body" not in german
    assert json.loads(german["ContentVariables"]) == {"1": "Zeile eins Zeile zwei",
                                                      "2": "abc.mp4"}
    assert german["MediaUrl"] == [f"{PUBLIC_URL}/media/abc.mp4"]  # as the fake completed it
    assert english["ContentSid"] == "HXenpdf"
    assert json.loads(english["ContentVariables"])["2"] == "def.pdf"
    assert not twilio_api.refused


# --- the fakes are as strict as WhatsApp -----------------------------------------------------

@pytest.fixture(scope="module")
def fake_meta():
    fake = FakeMeta(templates={"meldung_video": {"language": "de", "parameters": 1,
                                                 "header": "video"},
                               "meldung": {"language": "de", "parameters": 1}}).start()
    yield fake
    fake.stop()


def media_template(header, name="meldung_video"):
    components = [{"type": "body", "parameters": [{"type": "text", "text": "Hallo"}]}]
    if header is not None:
        components.insert(0, {"type": "header", "parameters": header})
    return {"messaging_product": "whatsapp", "to": "4915112345678", "type": "template",
            "template": {"name": name, "language": {"code": "de"}, "components": components}}


@pytest.mark.parametrize("header, code", [
    ([{"type": "document", "document": {"link": "https://x.de/a.pdf"}}], 132012),
    (None, 132000),
    ([{"type": "video", "video": {}}], 132000),
    ([], 132000),
    ([{"type": "video", "video": {"link": "https://x.de/a.mp4", "filename": "a.mp4"}}], 100),
], ids=["wrong-kind", "missing", "no-link", "no-parameter", "filename-on-a-video"])
def test_fake_meta_refuses_a_header_its_template_does_not_take(fake_meta, header, code):
    answer = post_to_meta(fake_meta, media_template(header))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == code


def test_fake_meta_takes_a_header_of_the_templates_kind_and_refuses_one_on_a_text_template(
        fake_meta):
    header = [{"type": "video", "video": {"link": "https://x.de/a.mp4"}}]
    assert post_to_meta(fake_meta, media_template(header)).status_code == 200
    record = fake_meta.messages[-1]
    assert (record["header"], record["link"]) == ("video", "https://x.de/a.mp4")
    answer = post_to_meta(fake_meta, media_template(header, name="meldung"))
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 132000


# --- the console offers what can be sent ----------------------------------------------------

def compose_page(config, **settings):
    from bot import create_app
    from tests.conftest import OFFICER, OFFICER_PASSWORD, Console

    app = create_app(dict(config, **settings))
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                 input=f"{OFFICER_PASSWORD}\n")
    console = Console(app.test_client())
    assert console.sign_in().status_code == 302
    return console.client.get("/admin/compose").get_data(as_text=True)


def test_the_console_offers_only_the_kinds_of_file_with_a_media_template(config):
    page = compose_page(config, BROADCAST_CONTENT_SID="HXtext",
                        BROADCAST_MEDIA_CONTENT_SID=f"video={VIDEO_SID},document={DOCUMENT_SID}")
    assert 'accept="video/mp4,application/pdf"' in page
    assert ("Mit den eingerichteten WhatsApp-Vorlagen möglich:\n    ein Video (MP4 mit "
            "H.264-Bild und AAC-Ton, höchstens 16 MB); ein PDF (höchstens 16 MB).") in page
    assert 'id="image"' not in compose_page(config, BROADCAST_CONTENT_SID="HXtext")
    free_form = compose_page(config)
    assert 'accept="image/jpeg,image/png,video/mp4,application/pdf"' in free_form


def test_a_language_with_media_templates_of_its_own_needs_the_files_kind_too(config, video):
    """Its citizens get the media template of their language: a kind it lacks is refused
    before anything is sent, naming that language's setting."""
    from bot import create_app

    client = create_app(dict(
        config, LANGUAGES="de,en", BROADCAST_CONTENT_SID="HXtext",
        BROADCAST_MEDIA_CONTENT_SID=f"video={VIDEO_SID},document={DOCUMENT_SID}",
        BROADCAST_CONTENT_SID_EN="HXen", BROADCAST_MEDIA_CONTENT_SID_EN="video=HXenvideo",
    )).test_client()
    assert post(client, "Mit Video", upload(client, video, "Einsatz.mp4")).status_code == 202
    pdf = post(client, "Mit PDF", upload(client, media_files.pdf(), "Aushang.pdf"))
    assert pdf.status_code == 400
    assert "set BROADCAST_MEDIA_CONTENT_SID_EN with document=…" in pdf.json["error"]
