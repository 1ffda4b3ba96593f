"""The fake Twilio itself: a template's body as sent (its own words with the variables filled
in) holds at most 1,024 characters, as WhatsApp holds it; a longer one is taken by the REST call
and then fails with 63021, as Twilio reports it.

The real twilio client against the fake on loopback, and signed status callbacks received by a
small server of the test's."""

import pytest
import requests

from tests.fake_twilio import BODY_LENGTH, CHANNEL_POLICY, QuickReply, quick_reply_refusal
from tests.template_bodies import default_body
from tests.test_template_paragraphs_e2e import callbacks, send_template  # noqa: F401

TEXT = "HX" + "1" * 32
PARAGRAPHS_3 = "HX" + "3" * 32
PICTURE = "HX" + "9" * 32
OWN_WORDS = 60  # the docs' text template around one variable


def send(fake, callbacks, variables, content_sid=TEXT, n=1):
    """A template message sent with the real client; its first ``n`` signed callbacks as
    (status, error code)."""
    return [(form["MessageStatus"], form.get("ErrorCode"))
            for form in send_template(fake, callbacks, variables, content_sid, n)]


def test_the_docs_text_template_has_sixty_characters_of_its_own():
    assert len(default_body(1)) - len("{{1}}") == OWN_WORDS
    assert default_body(1) == ("Infokanal Landkreis Musterstadt:\n\n{{1}}\n\n"
                               "Abmelden: „Stop“ senden.")
    assert default_body(2) == ("Infokanal Landkreis Musterstadt:\n\n{{1}}\n\n{{2}}\n\n"
                               "Abmelden: „Stop“ senden.")


def test_a_text_whose_body_as_sent_is_1024_goes_out_and_one_of_1025_fails_63021(twilio_api,
                                                                               callbacks):
    twilio_api.callbacks = ["sent", "delivered"]
    assert send(twilio_api, callbacks, {"1": "x" * (1024 - OWN_WORDS)}, n=2) == [
        ("sent", None), ("delivered", None)]
    assert send(twilio_api, callbacks, {"1": "x" * (1025 - OWN_WORDS)}) == [
        ("failed", str(BODY_LENGTH))]
    [(_, code, reason)] = twilio_api.refused
    assert code == BODY_LENGTH and "1025 characters" in reason


def test_a_variable_over_its_own_limit_fails_63013_before_the_body_is_counted(twilio_api,
                                                                             callbacks):
    assert send(twilio_api, callbacks, {"1": "x" * 1025}) == [("failed", str(CHANNEL_POLICY))]


def test_a_body_of_its_own_counts_its_own_words(twilio_api, callbacks):
    twilio_api.callbacks = ["delivered"]
    body = "Landkreis: {{1}} Stop = abmelden."
    twilio_api.template_bodies[TEXT] = body
    own = len(body) - len("{{1}}")
    assert send(twilio_api, callbacks, {"1": "x" * (1024 - own)}) == [("delivered", None)]
    assert send(twilio_api, callbacks, {"1": "x" * (1025 - own)}) == [
        ("failed", str(BODY_LENGTH))]
    # What the docs' template would refuse goes out in this shorter one.
    assert 1025 - own > 1024 - OWN_WORDS


def test_a_paragraph_template_counts_its_separators(twilio_api, callbacks):
    """Three paragraphs: the county's words and a blank line before, between and after each
    (64 characters of the template's own)."""
    twilio_api.templates[PARAGRAPHS_3] = 3
    twilio_api.callbacks = ["delivered"]
    own = OWN_WORDS + 2 * len("\n\n")
    fitting = {"1": "a" * 320, "2": "b" * 320, "3": "c" * (1024 - own - 640)}
    assert send(twilio_api, callbacks, fitting, PARAGRAPHS_3) == [("delivered", None)]
    assert send(twilio_api, callbacks, dict(fitting, **{"3": fitting["3"] + "c"}),
                PARAGRAPHS_3) == [("failed", str(BODY_LENGTH))]


def test_a_media_content_counts_its_body_and_not_the_header(twilio_api, callbacks):
    """The file's name ({{2}}) completes the header's address, which is no part of the body."""
    twilio_api.media_contents[PICTURE] = ("image", "https://cdn.example.de/{{2}}")
    twilio_api.callbacks = ["delivered"]
    name = "n" * 200 + ".jpg"
    assert send(twilio_api, callbacks, {"1": "x" * (1024 - OWN_WORDS), "2": name},
                PICTURE) == [("delivered", None)]
    assert send(twilio_api, callbacks, {"1": "x" * (1025 - OWN_WORDS), "2": name},
                PICTURE) == [("failed", str(BODY_LENGTH))]


def test_a_quick_reply_content_over_1024_fails_63021():
    content = QuickReply(2)
    variables = {"1": "Frage", "2": "Ja", "3": "Nein", "4": "poll:1:1", "5": "poll:1:2"}
    own = len(content.rendered(variables)) - len("Frage")
    assert quick_reply_refusal(dict(variables, **{"1": "x" * (1024 - own)}), content) is None
    assert quick_reply_refusal(dict(variables, **{"1": "x" * (1025 - own)}),
                               content)[0] == BODY_LENGTH


def test_a_body_whatsapp_would_not_approve_is_the_tests_mistake(twilio_api):
    twilio_api.templates[PARAGRAPHS_3] = 3
    twilio_api.media_contents[PICTURE] = ("image", "https://cdn.example.de/{{2}}")
    for sid, body in ((TEXT, "{{1}} am Anfang"), (TEXT, "Am Ende {{1}}"),
                      (TEXT, "Zwei: {{1}} und {{2}}."), (PARAGRAPHS_3, "Nur eins: {{1}}."),
                      (PICTURE, "Kein Text: {{2}}.")):
        twilio_api.template_bodies[sid] = body
        with pytest.raises(ValueError):
            twilio_api.body_of(sid)
    # A media content's body may name the file too ({{2}}), beside the text.
    twilio_api.template_bodies[PICTURE] = "Bild: {{1}} ({{2}})."
    assert twilio_api.body_of(PICTURE) == "Bild: {{1}} ({{2}})."


def test_bodies_are_steered_over_http_and_forgotten_at_reset(twilio_api):
    answer = requests.post(f"{twilio_api.url}/_fake/config",
                           json={"template_bodies": {TEXT: "Kurz: {{1}} Ende."}}, timeout=10)
    assert answer.ok
    assert twilio_api.body_of(TEXT) == "Kurz: {{1}} Ende."
    twilio_api.reset()
    assert twilio_api.body_of(TEXT) == default_body(1)
