"""Template mode end to end against a platform that holds WhatsApp's rule for variables: the
Procfile's web and worker, the fake NINA feed, the real twilio client, the fake Twilio API and
its signed status callbacks, which here reach the web server."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.conftest import free_port, wait_for
from tests.fake_nina import ARS, fake_nina, nina_api  # noqa: F401
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

SINGLE, TWO, THREE, FOUR = "HX" + "1" * 32, "HX" + "2" * 32, "HX" + "3" * 32, "HX" + "4" * 32
PARAGRAPHS = f"2={TWO},3={THREE},4={FOUR}"
EN_SINGLE, EN_TWO = "HX" + "e1" * 16, "HX" + "e2" * 16
HEADLINE = "Großbrand in Osterholz-Scharmbeck"
PRESS_TEXT = ("Sperrung der B 74 in Ritterhude\n\n"
              "Ab Montag, 7. Dezember, ist die B 74 zwischen Ritterhude und Osterholz-Scharmbeck "
              "voll gesperrt.\nEine Umleitung ist ausgeschildert.")


@pytest.fixture
def county(env, twilio_api, nina_api, start_web, start_worker):
    """A deployment in template mode whose status callbacks reach its own web server, with
    the platform's templates registered as the operator created them."""

    class County:
        def __init__(self):
            port = free_port()
            self.env = dict(env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}",
                            BROADCAST_CONTENT_SID=SINGLE, WARNINGS_ARS=ARS,
                            WARNINGS_API_URL=nina_api.url, WARNINGS_POLL_SECONDS="0.2",
                            WARNINGS_TIMEOUT_SECONDS="0.5", SENDER_POLL_SECONDS="0.05")
            self.feed = nina_api
            self.twilio = twilio_api
            twilio_api.templates.update({SINGLE: 1, TWO: 2, THREE: 3, FOUR: 4,
                                         EN_SINGLE: 1, EN_TWO: 2})
            twilio_api.callbacks = ["sent", "delivered"]

        def start(self, german=3, english=0, **overrides):
            self.env.update({k: str(v) for k, v in overrides.items()})
            self.web = start_web(self.env)
            self.people = [self.web.citizen() for _ in range(german + english)]
            for number, person in enumerate(self.people):
                word = "Start" if number < german else "Subscribe"
                assert person.send(word).status_code == 200
            start_worker(self.env)
            return self

        def sent(self):
            return {m["To"].removeprefix("whatsapp:"): (m["ContentSid"],
                                                         json.loads(m["ContentVariables"]))
                    for m in self.twilio.messages}

        def delivered(self, broadcast_id, n):
            """The broadcast once every one of its ``n`` messages is reported delivered."""
            def done():
                answer = self.web.api("GET", f"/api/broadcasts/{broadcast_id}").json()
                counts = answer["counts"]
                assert counts["failed"] == 0, answer
                return counts["delivered"] == n and answer
            return wait_for(done, timeout=30, message=f"{n} delivered")

        def relayed(self):
            def found():
                answer = self.web.api("GET", "/api/broadcasts").json()["broadcasts"]
                return [b for b in answer if b["source"]]
            return wait_for(found, timeout=20, message="the relayed warning")

    return County()


def test_a_relayed_warning_reaches_every_citizen_one_paragraph_per_variable(county):
    c = county.start(german=3, BROADCAST_PARAGRAPH_TEMPLATES=PARAGRAPHS)
    warning_id = c.feed.add(severity="Severe")
    (relayed,) = c.relayed()
    final = c.delivered(relayed["id"], 3)
    assert final["errors"] == {} and final["status"] == "done"
    expected = (FOUR, {
        "1": HEADLINE, "2": "Starke Rauchentwicklung im Ortsteil Buschhausen.",
        "3": "Fenster und Türen geschlossen halten.",
        "4": f"Mehr Informationen: https://warnung.bund.de/meldungen/{warning_id}"})
    assert c.sent() == {p.number: expected for p in c.people}
    assert c.twilio.refused == []


def test_with_the_single_template_only_a_relayed_warning_goes_out_in_one_line(county):
    c = county.start(german=2)
    warning_id = c.feed.add(severity="Extreme", description="Starke Rauchentwicklung.\n"
                            "Betroffen ist der Ortsteil Buschhausen.")
    (relayed,) = c.relayed()
    c.delivered(relayed["id"], 2)
    assert list(c.sent().values()) == [(SINGLE, {"1": (
        "Großbrand in Osterholz-Scharmbeck. Starke Rauchentwicklung. Betroffen ist der "
        "Ortsteil Buschhausen. Fenster und Türen geschlossen halten. Mehr Informationen: "
        f"https://warnung.bund.de/meldungen/{warning_id}")})] * 2
    assert c.twilio.refused == []


def test_a_two_paragraph_press_text_and_its_translation_reach_every_citizen(county):
    c = county.start(german=2, english=1, LANGUAGES="de,en",
                     BROADCAST_PARAGRAPH_TEMPLATES=PARAGRAPHS,
                     BROADCAST_CONTENT_SID_EN=EN_SINGLE,
                     BROADCAST_PARAGRAPH_TEMPLATES_EN=f"2={EN_TWO}")
    posted = c.web.api("POST", "/api/broadcasts", json={
        "text": PRESS_TEXT,
        "translations": {"en": "B 74 closed\r\n\r\nFrom Monday the road is closed.\t\t"
                               "Follow the      signs.\r\n\r\n\r\nCounty of Osterholz"}})
    assert posted.status_code == 202, posted.text
    c.delivered(posted.json()["id"], 3)
    german, english = c.people[:2], c.people[2]
    sent = c.sent()
    for person in german:
        assert sent[person.number] == (TWO, {
            "1": "Sperrung der B 74 in Ritterhude",
            "2": "Ab Montag, 7. Dezember, ist die B 74 zwischen Ritterhude und "
                 "Osterholz-Scharmbeck voll gesperrt. Eine Umleitung ist ausgeschildert."})
    assert sent[english.number] == (EN_TWO, {
        "1": "B 74 closed",
        "2": "From Monday the road is closed. Follow the signs. County of Osterholz"})
    assert c.twilio.refused == []


def test_the_longest_text_the_api_takes_is_delivered_in_one_variable(county):
    c = county.start(german=2)
    text = ("Achtung\n\n" * 200)[:923] + "!"
    posted = c.web.api("POST", "/api/broadcasts", json={"text": text})
    assert posted.status_code == 202, posted.text
    c.delivered(posted.json()["id"], 2)
    (value,) = next(iter(c.sent().values()))[1].values()
    assert len(value) <= 924 and "\n" not in value
    assert c.twilio.refused == []
    too_long = c.web.api("POST", "/api/broadcasts", json={"text": text + "x"})
    assert too_long.status_code == 400 and "at most 924" in too_long.json()["error"]


def test_a_template_named_with_the_wrong_number_of_variables_fails_with_a_hint(county):
    """The operator wrote 2= for the template with three variables: the platform refuses every
    message, and the broadcast says which setting to check."""
    c = county.start(german=2, BROADCAST_PARAGRAPH_TEMPLATES=f"2={THREE}")
    posted = c.web.api("POST", "/api/broadcasts", json={"text": PRESS_TEXT})
    assert posted.status_code == 202, posted.text
    failed = wait_for(lambda: (b := c.web.api("GET", f"/api/broadcasts/{posted.json()['id']}")
                               .json())["counts"]["failed"] == 2 and b,
                      timeout=30, message="both failed")
    assert failed["errors"] == {"63028": 2}
    assert any("BROADCAST_PARAGRAPH_TEMPLATES" in hint for hint in failed["hints"])


# -- the fake platform refuses what WhatsApp refuses --------------------------------------------

class Callbacks:
    """Status callbacks as a server of ours receives them, their signatures checked."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/status"
        self.received = []
        validator = RequestValidator(AUTH_TOKEN)
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                signed = validator.validate(f"http://127.0.0.1:{self.server.server_port}"
                                            f"{self.path}", form,
                                            self.headers.get("X-Twilio-Signature", ""))
                received.append((signed, form))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, sid, n=1):
        """The first ``n`` signed callbacks for a message."""
        return wait_for(lambda: len(forms := [form for signed, form in self.received
                                              if signed and form["MessageSid"] == sid]) >= n
                        and forms, timeout=10, message=f"{n} callbacks for {sid}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callbacks():
    server = Callbacks()
    yield server
    server.close()


def send_template(fake, callbacks, variables, content_sid=SINGLE, n=1):
    """A template message sent with the real client, as today's seam sent it."""
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = fake.url
    created = client.messages.create(to="whatsapp:+4915100000001", from_="whatsapp:+4930901820",
                                     content_sid=content_sid, status_callback=callbacks.url,
                                     content_variables=json.dumps(variables))
    assert created.status == "queued"  # the REST call takes it; WhatsApp refuses it later
    return callbacks.of(created.sid, n)


@pytest.mark.parametrize("value", [
    "Großbrand\n\nStarke Rauchentwicklung", "Großbrand\r\nRauch", "Großbrand\tRauch",
    "Großbrand     Rauch", "", "   ", "x" * 1025,
], ids=["blank line", "crlf", "tab", "five spaces", "empty", "only spaces", "too long"])
def test_the_platform_refuses_a_variable_whatsapp_refuses(twilio_api, callbacks, value):
    forms = send_template(twilio_api, callbacks, {"1": value})
    assert [(f["MessageStatus"], f["ErrorCode"]) for f in forms] == [("failed", "63013")]


def test_the_platform_takes_what_whatsapp_takes(twilio_api, callbacks):
    twilio_api.callbacks = ["sent", "delivered"]
    # The longest the docs' template takes: 1,024 characters as sent with its own 60.
    forms = send_template(twilio_api, callbacks, {"1": "Großbrand    Rauch 🌊 " + "x" * 943},
                          n=2)
    assert [f["MessageStatus"] for f in forms] == ["sent", "delivered"]
    assert twilio_api.refused == []


def test_todays_one_variable_warning_would_fail_for_every_citizen(twilio_api, callbacks):
    """What the template mode sent before: the relayed warning, blank lines and all, as
    variable 1. WhatsApp refuses it."""
    warning = ("Großbrand in Osterholz-Scharmbeck\n\nStarke Rauchentwicklung im Ortsteil "
               "Buschhausen.\n\nFenster und Türen geschlossen halten.\n\nMehr Informationen: "
               "https://warnung.bund.de/meldungen/mow.DE-NI-OHZ-W001-20261124-000")
    forms = send_template(twilio_api, callbacks, {"1": warning})
    assert [(f["MessageStatus"], f["ErrorCode"]) for f in forms] == [("failed", "63013")]


def test_variables_that_are_not_the_templates_fail(twilio_api, callbacks):
    twilio_api.templates[TWO] = 2
    for variables in ({"1": "Kopf"}, {"1": "Kopf", "2": "Text", "3": "mehr"}, {"2": "Text"}):
        forms = send_template(twilio_api, callbacks, variables, content_sid=TWO)
        assert [(f["MessageStatus"], f["ErrorCode"]) for f in forms] == [("failed", "63028")]
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = twilio_api.url
    for raw in ("not json", "[\"Kopf\"]", "{\"1\": 5}"):
        with pytest.raises(TwilioRestException) as error:
            client.messages.create(to="whatsapp:+4915100000001", from_="whatsapp:+4930901820",
                                   content_sid=SINGLE, content_variables=raw)
        assert error.value.code == 21656 and error.value.status == 400
