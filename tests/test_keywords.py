import json
import re

import pytest

from bot.texts import TextsFileError, load_texts, normalize

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


@pytest.mark.parametrize("body", ["Start bitte", "Wann kommt der Müll?", "", "   ", "\x00",
                                  "😀", "Stopschild", "' OR 1=1 --", "x" * 5000])
def test_other_messages_are_not_keywords(body):
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


QUOTED = re.compile(r'"([^"]+)"')
LANGUAGE_SETTINGS = [{}, {"LANGUAGE": "en"}, {"LANGUAGES": "de,en"},
                     {"LANGUAGE": "en", "LANGUAGES": "en"}, {"LANGUAGE": "en", "LANGUAGES": "en,de"}]
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
        for key, allowed in INVITES.items():
            for word in QUOTED.findall(texts.get(key, language)):
                action, answered_in = texts.classify(word)
                assert texts.classify(word)[0] in allowed, (
                    f"{key} ({language}) tells citizens to send {word!r}")
                checked += 1
    assert checked >= 6


def test_english_deployment_understands_subscribe():
    texts = load_texts(dict(BASE, LANGUAGE="en"))
    assert texts.classify("subscribe!")[0] == "start"
    assert texts.get("welcome", texts.classify("Subscribe")[1]).startswith("Welcome")
