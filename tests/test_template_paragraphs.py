"""A text's paragraphs as template variables WhatsApp takes: the splitting, the settings that
name the templates, the seam's choice of template per language, and the fake's rule."""

import json
import random

import pytest

from bot import create_app
from bot.platforms import twilio as gateway
from bot import whatsapp_text
from bot.config import ConfigError
from bot.domain import announcements
from tests.conftest import OFFICER, OFFICER_PASSWORD, Console
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, template_refusal

# What a template of the default TEMPLATE_FIXED_CHARACTERS (100) leaves the text.
ROOM = announcements.TEMPLATE_TEXT_LIMIT - 100

FROM = "whatsapp:+4930901820"


@pytest.mark.parametrize("text,expected", [
    ("Kopf\r\n\r\nText eins.\r\nZeile zwei", ["Kopf", "Text eins. Zeile zwei"]),
    ("Kopf\rText", ["Kopf Text"]),
    ("A\n\n \t \n\n\n\nB\n \n", ["A", "B"]),
    ("  \n\n\tA", ["A"]),
    ("Sperrung      der\t\tB 74", ["Sperrung der B 74"]),
    ("Kopf\u2028Zeile\u2029\u2029Absatz\x0bmit\x0cUmbruch", ["Kopf Zeile", "Absatz mit Umbruch"]),
    ("A\xa0\xa0\xa0\xa0\xa0B\u3000\u3000C", ["A B C"]),
    ("🚨 Hochwasser 🚨\n\nPegel steigt 🌊", ["🚨 Hochwasser 🚨", "Pegel steigt 🌊"]),
    ("\u200bA", ["\u200bA"]),
])
def test_paragraphs_are_single_lines_without_runs_of_white_space(text, expected):
    assert whatsapp_text.paragraphs(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("Unwetterwarnung\n\nEs stürmt.\n\nMehr: https://x.de/a",
     "Unwetterwarnung. Es stürmt. Mehr: https://x.de/a"),
    ("Achtung!\n\nDie Straße ist zu", "Achtung! Die Straße ist zu"),
    ("Frohe Weihnachten 🎄\n\nIhr Landkreis", "Frohe Weihnachten 🎄 Ihr Landkreis"),
    ("Sperrung (B 75)\n\nAb Montag", "Sperrung (B 75). Ab Montag"),
    ("Liste:\n- eins\n- zwei", "Liste: - eins - zwei"),
])
def test_one_line_reads_as_sentences(text, expected):
    assert whatsapp_text.one_line(text) == expected


def test_paragraphs_beyond_the_largest_template_run_on_in_its_last_variable():
    text = "Eins\n\nZwei.\n\nDrei\n\nVier\n\nFünf"
    assert whatsapp_text.variables(text, (1, 2, 3)) == ["Eins", "Zwei.", "Drei. Vier. Fünf"]
    assert whatsapp_text.variables(text, (1,)) == ["Eins. Zwei. Drei. Vier. Fünf"]
    # No template for three paragraphs: the next smaller one that fits, never a larger one.
    assert whatsapp_text.variables("A\n\nB\n\nC", (1, 2, 4)) == ["A", "B. C"]
    assert whatsapp_text.variables("A\n\nB", (1, 4)) == ["A. B"]
    assert whatsapp_text.variables("Nur einer", (1, 2, 3)) == ["Nur einer"]


def test_nothing_or_too_much_is_unsendable_rather_than_refused_by_whatsapp():
    for text in ("", " \n\n\t \r\n", "\u2028\u2029"):
        with pytest.raises(whatsapp_text.Unsendable):
            whatsapp_text.variables(text)
    assert whatsapp_text.variables("x" * 1024) == ["x" * 1024]
    with pytest.raises(whatsapp_text.Unsendable, match="1025"):
        whatsapp_text.variables("x" * 1025)
    # A very long paragraph among short ones is measured on its own.
    assert whatsapp_text.variables("Kopf\n\n" + "y" * 1024, (1, 2)) == ["Kopf", "y" * 1024]


def test_every_text_the_template_mode_accepts_gives_variables_whatsapp_takes():
    """Random texts up to the limit, full of line breaks, tabs and runs of spaces: every value
    is no longer than the text (so the 1,024 the console counts is the variables' limit too)
    and passes the fake platform's rule, whichever templates are configured."""
    rng = random.Random(27)
    alphabet = ["a", "Wort", ".", "!", "🌊", " ", "  ", "     ", "\t", "\n", "\n\n", "\r\n",
                "\r\n\r\n", "\u2028", "\xa0", "https://warnung.bund.de/x"]
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400)))
        try:
            fields = announcements.validate({"text": text}, ROOM)
        except announcements.InvalidBroadcast:
            continue  # empty or too long: refused with a 400 before anything is stored
        stored = fields["text"]
        assert len(stored) <= ROOM
        for counts in ((1,), (1, 2), (1, 2, 3, 4), (1, 3, 10)):
            values = whatsapp_text.variables(stored, counts)
            assert all(len(value) <= len(stored) for value in values)
            expected = len(values)
            assert template_refusal({str(n): v for n, v in enumerate(values, 1)},
                                    expected) is None, (stored, values)


def test_a_full_length_text_of_many_paragraphs_fits_one_variable():
    text = ("Achtung\n\n" * 200)[:ROOM]
    fields = announcements.validate({"text": text}, ROOM)
    (value,) = whatsapp_text.variables(fields["text"])
    assert len(value) <= ROOM and template_refusal({"1": value}, 1) is None


# -- settings ---------------------------------------------------------------------------------

def test_paragraph_templates_are_read_per_language(config):
    app = create_app(dict(config, LANGUAGES="de,en", BROADCAST_CONTENT_SID="HXde1",
                          BROADCAST_PARAGRAPH_TEMPLATES=" 2=HXde2, 4=HXde4 ",
                          BROADCAST_CONTENT_SID_EN="HXen1",
                          BROADCAST_PARAGRAPH_TEMPLATES_EN="3=HXen3"))
    assert app.config["PARAGRAPH_SIDS"] == {None: {2: "HXde2", 4: "HXde4"}, "en": {3: "HXen3"}}
    assert create_app(config).config["PARAGRAPH_SIDS"] == {}


@pytest.mark.parametrize("settings,reason", [
    ({"BROADCAST_PARAGRAPH_TEMPLATES": "2=HXa"}, "BROADCAST_CONTENT_SID is not"),
    ({"BROADCAST_CONTENT_SID": "HXa", "BROADCAST_PARAGRAPH_TEMPLATES": "HXb"}, "'HXb'"),
    ({"BROADCAST_CONTENT_SID": "HXa", "BROADCAST_PARAGRAPH_TEMPLATES": "1=HXb"}, "'1=HXb'"),
    ({"BROADCAST_CONTENT_SID": "HXa", "BROADCAST_PARAGRAPH_TEMPLATES": "11=HXb"}, "11=HXb"),
    ({"BROADCAST_CONTENT_SID": "HXa", "BROADCAST_PARAGRAPH_TEMPLATES": "2=HXb,2=HXc"}, "2=HXc"),
    ({"BROADCAST_CONTENT_SID": "HXa", "BROADCAST_PARAGRAPH_TEMPLATES": "2="}, "'2='"),
    ({"BROADCAST_CONTENT_SID": "HXa", "BROADCAST_PARAGRAPH_TEMPLATES": "2=HX b"}, "'2=HX b'"),
    ({"LANGUAGES": "de,en", "BROADCAST_CONTENT_SID": "HXa",
      "BROADCAST_PARAGRAPH_TEMPLATES_EN": "2=HXb"}, "BROADCAST_CONTENT_SID_EN is not"),
])
def test_paragraph_templates_that_cannot_work_stop_the_start(config, settings, reason):
    with pytest.raises(ConfigError, match="BROADCAST_PARAGRAPH_TEMPLATES") as error:
        create_app(dict(config, **settings))
    assert reason in str(error.value)


@pytest.mark.parametrize("paragraphs,says", [
    ("", "Absätze kommen als fortlaufender Text an"),
    ("2=HXb", "Absätze (durch eine Leerzeile getrennt) bleiben erhalten"),
])
def test_compose_says_what_becomes_of_paragraphs_in_template_mode(config, paragraphs, says):
    app = create_app(dict(config, BROADCAST_CONTENT_SID="HXa",
                          BROADCAST_PARAGRAPH_TEMPLATES=paragraphs))
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                 input=f"{OFFICER_PASSWORD}\n")
    console = Console(app.test_client())
    console.sign_in()
    assert says in console.client.get("/admin/compose").get_data(as_text=True)


# -- the seam, through the real client and the strict fake -------------------------------------

def send(fake, messages, **templates):
    results = gateway.send_messages(messages, ACCOUNT_SID, AUTH_TOKEN, FROM, api_url=fake.url,
                               **templates)
    assert all(isinstance(result, str) for result in results), results
    return [(m["ContentSid"], json.loads(m["ContentVariables"])) for m in fake.messages]


def message(body, language=None):
    return gateway.OutgoingMessage(to="+4915100000001", body=body, language=language)


def test_each_language_uses_its_own_templates_or_else_the_main_ones(twilio_api):
    twilio_api.templates.update({"HXde2": 2, "HXde3": 3, "HXen2": 2})
    text = "Kopf\n\nMitte.\n\nSchluss"
    sent = send(twilio_api, [message(text), message(text, "en"), message(text, "uk"),
                             message(text, "tr")],
                content_sid="HXde1", content_sids={"en": "HXen1", "tr": "HXtr1"},
                paragraph_sids={None: {2: "HXde2", 3: "HXde3"}, "en": {2: "HXen2"}})
    assert sent == [
        ("HXde3", {"1": "Kopf", "2": "Mitte.", "3": "Schluss"}),
        ("HXen2", {"1": "Kopf", "2": "Mitte. Schluss"}),
        # No template of its own: the main language's, as before.
        ("HXde3", {"1": "Kopf", "2": "Mitte.", "3": "Schluss"}),
        # Its own single template only: never a template of another language's words.
        ("HXtr1", {"1": "Kopf. Mitte. Schluss"}),
    ]
    assert twilio_api.refused == []


def test_a_trial_send_of_a_text_with_paragraphs_goes_out_as_the_paragraph_template(twilio_api):
    twilio_api.templates["HXp2"] = 2
    sent = send(twilio_api, [message("Probealarm\n\nBitte nicht beunruhigen.")],
                content_sid="HXp1", paragraph_sids={None: {2: "HXp2"}})
    assert sent == [("HXp2", {"1": "Probealarm", "2": "Bitte nicht beunruhigen."})]
    assert twilio_api.refused == []


def test_a_text_that_cannot_be_a_variable_is_refused_before_the_platform():
    results = gateway.send_messages([message(" \n\n ")], ACCOUNT_SID, AUTH_TOKEN, FROM,
                               api_url="http://127.0.0.1:9", content_sid="HXp1")
    assert isinstance(results[0], gateway.SendError) and results[0].kind == "rejected"
    assert "empty" in str(results[0])
