"""Topic and language words as citizens type them, and what the operator may configure."""

import json
import re

import pytest

from bot.config import ConfigError, parse_topics
from bot.texts import TextsFileError, load_texts
from bot.wording import TOPIC_TEXTS

BASE = {"AUTHORITY_NAME": "Stadt Beispiel", "CONTACT_INFO": "Tel. 0800 1"}
TOPICS = "baustellen=Baustellen und Sperrungen,veranstaltungen=Veranstaltungen,stellen=Stellenangebote"


def texts(**settings):
    config = dict(BASE, **settings)
    return load_texts(config, parse_topics(config.get("TOPICS", TOPICS)))


@pytest.mark.parametrize("body,action,slug", [
    ("Start baustellen", "start", "baustellen"),
    ("start Baustellen!", "start", "baustellen"),
    ("START   Baustellen  und   Sperrungen", "start", "baustellen"),
    ("\u200fStart baustellen\u200f", "start", "baustellen"),
    ("Anmelden: Stellenangebote", "start", "stellen"),
    ("Stopp stellen.", "stop", "stellen"),
    ("stop VERANSTALTUNGEN", "stop", "veranstaltungen"),
    ("Abmelden - Veranstaltungen", "stop", "veranstaltungen"),
    ("ＳＴＯＰ baustellen", "stop", "baustellen"),
])
def test_a_topic_is_named_by_its_slug_or_name_however_it_is_spelled(body, action, slug):
    command = texts().parse(body)
    assert (command.action, command.topic.slug if command.topic else None) == (action, slug)


@pytest.mark.parametrize("body,action,rest", [
    ("Stop der Bauarbeiten", "stop", "der bauarbeiten"),
    ("Stopp!!! Fahrplan", "stop", "fahrplan"),
    ("Start Fahrplan", "start", "fahrplan"),
    ("Start Fahrplan, bitte", "start", "fahrplan, bitte"),
])
def test_words_after_start_or_stop_that_name_no_topic_are_kept_as_the_rest(body, action, rest):
    command = texts().parse(body)
    assert (command.action, command.topic, command.rest) == (action, None, rest)


@pytest.mark.parametrize("body", ["Stopschild", "Starter", "Themenpark", "Bau stellen"])
def test_words_that_only_begin_like_a_keyword_are_no_keyword(body):
    assert texts().parse(body).action is None


@pytest.mark.parametrize("body,action,slug", [
    ("Start bitte", "start", None), ("Bitte Stop", "stop", None),
    ("Stopp!!! danke", "stop", None),
    ("Start Baustellen, bitte!", "start", "baustellen"), ("Hallo, Themen bitte", "topics", None),
])
def test_polite_words_around_a_keyword_and_topic_are_no_topic(body, action, slug):
    command = texts().parse(body)
    assert (command.action, command.topic.slug if command.topic else None, command.rest) == (
        action, slug, slug or "")


def test_without_topics_topic_words_still_read_as_keywords_but_questions_do_not():
    plain = load_texts(BASE)
    assert (plain.parse("Start baustellen").action, plain.parse("Start baustellen").rest) == (
        "start", "baustellen")
    assert plain.parse("Themen").action == "topics"
    assert plain.parse("Stop bitte").action == "stop"
    assert plain.parse("Stop Veranstaltungen").action == "stop"
    for body in ("Start der Bauarbeiten?", "Start der Bauarbeiten in der Hauptstraße",
                 "Start 2 Baustellen"):
        assert plain.parse(body).action is None, body
    # An opt-out is never missed, whatever follows it.
    for body in ("Stop 2 Baustellen", "Stop mit den Nachrichten?", "Stopp, ich will das nicht!"):
        assert plain.parse(body).action == "stop", body
    assert plain.classify("Start") == ("start", "default")


def test_themen_and_topics_list_the_topics():
    both = texts(LANGUAGES="de,en")
    assert both.parse("Themen").action == "topics"
    assert (both.parse("topics?").action, both.parse("topics?").language) == ("topics", "en")


def test_a_language_is_chosen_by_its_name_where_there_is_a_choice():
    both = texts(LANGUAGES="de,en")
    assert (both.parse("English").action, both.parse("English").language) == ("language", "en")
    assert both.parse("deutsch!").language == "de"
    assert texts().parse("Deutsch").action is None, "one language: nothing to choose"


def test_the_keywords_own_language_answers_a_stranger():
    both = texts(LANGUAGES="de,en")
    assert both.parse("Subscribe").language == "en"
    assert both.parse("Start").language == "de"
    assert both.parse("Subscribe baustellen").topic.slug == "baustellen"


def test_further_languages_come_whole_from_the_texts_file(tmp_path):
    ukrainian = {key: f"[uk] {key}" for key in set(load_texts(BASE).messages["de"])
                 - {"contact_line", "notice_join", "correction_head"}}
    ukrainian.update(contact_line="{contact}", notice_join="Старт", language_name="Українська",
                     keywords={"start": ["Старт"], "stop": ["Стоп"]})
    path = tmp_path / "texts.json"
    path.write_text(json.dumps({"uk": ukrainian}), encoding="utf-8")
    loaded = load_texts(dict(BASE, LANGUAGES="de,uk", TEXTS_FILE=str(path)))
    assert (loaded.parse("старт").action, loaded.parse("старт").language) == ("start", "uk")
    assert loaded.parse("Українська").language == "uk"
    assert loaded.get("welcome", "uk") == "[uk] welcome"
    # A text a language of its own may leave out: the main language's.
    assert loaded.get("correction_head", "uk", quote="B 74") == "Berichtigung: „B 74“ –"
    del ukrainian["goodbye"], ukrainian["help"]
    path.write_text(json.dumps({"uk": ukrainian}), encoding="utf-8")
    with pytest.raises(TextsFileError, match=r"'uk' has no texts for \['goodbye', 'help'\]"):
        load_texts(dict(BASE, LANGUAGES="de,uk", TEXTS_FILE=str(path)))


@pytest.mark.parametrize("head, refused", [
    ("Korrektur zu „{quote}“:", None),
    ("Korrektur:", "must hold {quote}"),
    ("Korrektur zu {name}:", "a stray brace"),
    ("Korrektur {{quote}}", "must hold {quote}"),
])
def test_the_beginning_of_a_correction_names_the_corrected_message(tmp_path, head, refused):
    path = tmp_path / "texts.json"
    path.write_text(json.dumps({"correction_head": head}), encoding="utf-8")
    if refused is None:
        loaded = load_texts(dict(BASE, TEXTS_FILE=str(path)))
        assert loaded.get("correction_head", quote="B 74") == "Korrektur zu „B 74“:"
    else:
        with pytest.raises(TextsFileError, match=re.escape(refused)):
            load_texts(dict(BASE, TEXTS_FILE=str(path)))


def test_quote_belongs_to_the_correction_alone(tmp_path):
    path = tmp_path / "texts.json"
    path.write_text(json.dumps({"welcome": "Willkommen {quote}"}), encoding="utf-8")
    with pytest.raises(TextsFileError, match="a stray brace"):
        load_texts(dict(BASE, TEXTS_FILE=str(path)))


def test_a_language_that_is_neither_built_in_nor_in_the_texts_file_stops_the_start():
    with pytest.raises(TextsFileError, match="'tr' is not built in"):
        load_texts(dict(BASE, LANGUAGES="de,tr"))


@pytest.mark.parametrize("value,reason", [
    ("baustellen", "slug=Name"), ("Bau stellen=Baustellen", "slug"),
    ("a=A,a=B", "twice"), ("x=" + "y" * 61, "longer than 60"),
])
def test_topics_that_cannot_be_meant_stop_the_start_with_the_reason(value, reason):
    with pytest.raises(ConfigError, match=reason):
        parse_topics(value)


def test_a_topic_named_like_a_keyword_stops_the_start():
    with pytest.raises(TextsFileError, match="also a keyword"):
        texts(TOPICS="hilfe=Hilfe")


# Straight quotes (a TEXTS_FILE may use them), German „…“ and English “…” (the built-in texts).
QUOTED = re.compile(r'"([^"]+)"|„([^“]+)“|“([^”]+)”')


def quoted(text):
    return ["".join(groups) for groups in QUOTED.findall(text)]


@pytest.mark.parametrize("languages", ["de", "de,en", "en,de"])
def test_every_word_a_topic_text_quotes_works(languages):
    loaded = texts(LANGUAGES=languages)
    checked = 0
    for code in loaded.languages:
        for key in TOPIC_TEXTS["de"]:
            text = loaded.get(key, code, topic="X", mine="Y", list="Z", name="N", slug="s",
                              start=loaded.keyword("start", code),
                              stop=loaded.keyword("stop", code),
                              topics=loaded.keyword("topics", code))
            for word in quoted(text):
                assert loaded.parse(word).action in ("start", "stop", "topics"), (key, word)
                checked += 1
    assert checked >= 6


def test_topic_replies_fit_a_phone_screen():
    loaded = texts(LANGUAGES="de,en")
    listing = ", ".join(f"{t.name} (\"Start {t.slug}\")" for t in loaded.topics)
    for code in loaded.languages:
        for key in TOPIC_TEXTS["de"]:
            text = loaded.get(key, code, topic="Baustellen und Sperrungen", mine="Stellenangebote",
                              list=listing, name="N", slug="s", start="Start", stop="Stop",
                              topics="Themen")
            assert len(text) <= 320, (code, key, len(text))
