import json
import re

import pytest

from bot.texts import DEFAULT_TEXTS, TextsFileError, load_texts, normalize

BASE = {"AUTHORITY_NAME": "Stadt Beispiel", "CONTACT_INFO": "Tel. 0800 1"}


@pytest.mark.parametrize("body", ["Start", " start ", "START", "Start!", "start.", "Start !!",
                                  "\u200fStart\u200f", "Anmelden", "ＳＴＡＲＴ"])
def test_start_is_recognised_whatever_the_case_spaces_or_punctuation(body):
    assert load_texts(BASE).classify(body)[0] == "start"


@pytest.mark.parametrize("body", ["Stop", "STOPP", "abmelden", "Unsubscribe", "stop."])
def test_stop_words_are_recognised(body):
    assert load_texts(BASE).classify(body)[0] == "stop"


@pytest.mark.parametrize("body", ["Hilfe", "help?", "Info"])
def test_help_words_are_recognised(body):
    assert load_texts(BASE).classify(body)[0] == "help"


@pytest.mark.parametrize("body", ["Wann kommt der Müll?", "", "   ", "\x00",
                                  "😀", "Stopschild", "' OR 1=1 --", "x" * 5000])
def test_other_messages_are_not_keywords(body):
    assert load_texts(BASE).classify(body)[0] is None


@pytest.mark.parametrize("body,action", [
    ("Start bitte", "start"), ("Bitte Start", "start"), ("Anmelden bitte!", "start"),
    ("start, BITTE.", "start"), ("Hallo, Start 🙏", "start"), ("Gerne anmelden", "start"),
    ("Grüß Gott! Start", "start"), ("Start please", "start"),
    ("Stop bitte", "stop"), ("Abmelden, danke", "stop"), ("Vielen Dank! Stop.", "stop"),
    ("thank you, stop", "stop"), ("bitte stopp!!", "stop"), ("Danke schön, abmelden", "stop"),
    ("Hilfe bitte?", "help"), ("Hallo Info", "help"),
])
def test_a_keyword_said_politely_is_the_keyword(body, action):
    assert load_texts(BASE).classify(body) == (action, "default")


@pytest.mark.parametrize("body", [
    "Danke", "Hallo?", "Bitte bitte", "Hallo, ich möchte mich anmelden",
    "Bitte Start der Bauarbeiten?", "Danke für den Start der Bauarbeiten", "Stopschild bitte",
    "Bitte " * 30 + "Start",
])
def test_politeness_does_not_turn_a_message_into_a_keyword(body):
    assert load_texts(BASE).classify(body)[0] is None


def test_english_subscribe_only_when_english_is_switched_on():
    assert load_texts(BASE).classify("Subscribe")[0] is None
    texts = load_texts(dict(BASE, LANGUAGES="de,en"))
    assert texts.classify("Subscribe") == ("start", "en")
    assert texts.get("welcome", "en").startswith("Welcome")
    assert texts.classify("Start") == ("start", "default")


def test_operator_replaces_keywords_through_the_environment():
    texts = load_texts(dict(BASE, KEYWORDS_START="Los, Mitmachen"))
    assert texts.classify("mitmachen")[0] == "start"
    assert texts.classify("Start")[0] is None


def test_operator_replaces_texts_with_a_file(tmp_path):
    path = tmp_path / "texte.json"
    path.write_text(json.dumps({"welcome": "Hallo aus {authority}!",
                                "keywords": {"help": ["Frage"]}}), encoding="utf-8")
    texts = load_texts(dict(BASE, TEXTS_FILE=str(path)))
    assert texts.get("welcome") == "Hallo aus Stadt Beispiel!"
    assert texts.classify("Frage")[0] == "help"


def test_a_texts_file_with_unknown_entries_is_refused(tmp_path):
    path = tmp_path / "texte.json"
    path.write_text(json.dumps({"welcom": "typo"}), encoding="utf-8")
    with pytest.raises(TextsFileError, match="welcom"):
        load_texts(dict(BASE, TEXTS_FILE=str(path)))


def test_one_word_cannot_mean_start_and_stop():
    with pytest.raises(TextsFileError):
        load_texts(dict(BASE, KEYWORDS_START="Stop"))


def test_default_texts_are_short_enough_for_a_phone_screen():
    texts = load_texts(BASE)
    for key in ("welcome", "goodbye", "help", "notice", "already_subscribed"):
        assert len(texts.get(key)) <= 320, key
    assert "Tel. 0800 1" in texts.get("notice")
    assert "Stop" in texts.get("welcome")


def test_normalize_folds_case_and_trailing_punctuation():
    assert normalize("  Stopp!!! ") == "stopp"


# Straight quotes (a TEXTS_FILE may use them), German „…“ and English “…” (the built-in texts).
QUOTED = re.compile(r'"([^"]+)"|„([^“]+)“|“([^”]+)”')


def quoted(text):
    return ["".join(groups) for groups in QUOTED.findall(text)]
LANGUAGE_SETTINGS = [{}, {"LANGUAGE": "en"}, {"LANGUAGES": "de,en"},
                     {"LANGUAGE": "en", "LANGUAGES": "en"},
                     {"LANGUAGE": "en", "LANGUAGES": "en,de"}]
# What the word a text quotes must do: the texts that invite to join quote Start, the others Stop
# or all three (help).
INVITES = {"welcome": {"stop"}, "already_subscribed": {"stop"}, "goodbye": {"start"},
           "not_subscribed": {"start"}, "notice_join": {"start"},
           "help": {"start", "stop", "help"}}


@pytest.mark.parametrize("settings", LANGUAGE_SETTINGS, ids=lambda s: str(s) or "default")
def test_every_keyword_a_text_quotes_works(settings):
    texts = load_texts(dict(BASE, **settings))
    languages = ["default"] + (["en"] if texts.english_messages else [])
    checked = 0
    for language in languages:
        for key in DEFAULT_TEXTS["de"]:
            if key == "correction_head":
                continue  # its quotation marks hold the corrected message, not a keyword
            allowed = INVITES.get(key, {"start", "stop", "help"})
            for word in quoted(texts.get(key, language)):
                assert texts.classify(word)[0] in allowed, (
                    f"{key} ({language}) tells citizens to send {word!r}")
                checked += 1
    assert checked >= 6


def test_english_deployment_understands_subscribe():
    texts = load_texts(dict(BASE, LANGUAGE="en"))
    assert texts.classify("subscribe!")[0] == "start"
    assert texts.get("welcome", texts.classify("Subscribe")[1]).startswith("Welcome")


def write_texts(tmp_path, data):
    path = tmp_path / "texte.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_a_texts_file_configures_english_texts_per_language(tmp_path):
    path = write_texts(tmp_path, {
        "welcome": "Hallo aus {authority}!",
        "en": {"welcome": "Hello from {authority}! To leave, send \"Stop\"."}})
    texts = load_texts(dict(BASE, TEXTS_FILE=path, LANGUAGES="de,en"))
    assert texts.get("welcome") == "Hallo aus Stadt Beispiel!"
    assert texts.get("welcome", "en") == "Hello from Stadt Beispiel! To leave, send \"Stop\"."
    assert texts.get("goodbye", "en").startswith("You are unsubscribed")


def test_an_english_deployment_takes_its_texts_from_the_en_entry_or_the_flat_form(tmp_path):
    per_language = write_texts(tmp_path, {"en": {"help": "Ask {contact}."}})
    assert load_texts(dict(BASE, LANGUAGE="en", TEXTS_FILE=per_language)).get("help") == (
        "Ask Tel. 0800 1.")
    flat = write_texts(tmp_path, {"help": "Just ask {contact}."})
    assert load_texts(dict(BASE, LANGUAGE="en", TEXTS_FILE=flat)).get("help") == (
        "Just ask Tel. 0800 1.")


def test_a_german_entry_changes_german_texts_only(tmp_path):
    path = write_texts(tmp_path, {"de": {"notice": "Keine Anfragen hier."}})
    texts = load_texts(dict(BASE, TEXTS_FILE=path, LANGUAGES="de,en"))
    assert texts.get("notice") == "Keine Anfragen hier."
    assert texts.get("notice", "en").startswith("This channel does not answer")


@pytest.mark.parametrize("data,reason", [
    ({"fr": {"welcome": "Bonjour"}}, "fr"),
    ({"en": {"welcom": "typo"}}, "welcom"),
    ({"en": "Hello"}, "'en'"),
    ({"welcome": "A", "de": {"welcome": "B"}}, "both"),
    ({"welcome": 42}, "welcome"),
    ({"en": {"help": "{authorty}"}}, "placeholder"),
    ({"keywords": {"start": "Los"}}, "keywords"),
    (["welcome"], "JSON object"),
])
def test_a_texts_file_that_cannot_be_meant_is_refused_with_a_reason(tmp_path, data, reason):
    path = write_texts(tmp_path, data)
    with pytest.raises(TextsFileError, match=re.escape(reason)):
        load_texts(dict(BASE, TEXTS_FILE=path, LANGUAGES="de,en"))
