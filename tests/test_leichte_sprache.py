"""Leichte Sprache (``de-LS``) as a language of the channel, and relayed warnings in each
citizen's language: configuration, the built-in texts against the rules of Netzwerk Leichte
Sprache, the feed's language labels, and the relay's one broadcast with several texts (polled
in the test's own process against the fake feed, citizens through signed webhooks)."""

import re

import pytest

from bot import config as settings, nina
from bot.config import ConfigError
from bot.texts import load_texts
from bot.wording import TEXTS, TOPIC_TEXTS
from tests.conftest import ADMIN_TOKEN, reply_text, rows
from tests.fake_nina import ARS, fake_nina, info_block, nina_api  # noqa: F401
from tests.test_warnings_relay import poll

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
EASY = "de-LS"
TOPICS = "baustellen=Baustellen und Sperrungen,kultur=Veranstaltungen"


def loaded(topics=""):
    return load_texts({"LANGUAGES": "de,en,de-LS", "AUTHORITY_NAME": "Landkreis Osterholz",
                       "CONTACT_INFO": "Bürgertelefon 04791 930-0"},
                      settings.parse_topics(topics))


# -- configuration ----------------------------------------------------------------------------

def test_de_ls_is_a_language_code_and_its_settings_end_in_de_ls(monkeypatch):
    for name, value in {"BROADCAST_CONTENT_SID_DE_LS": "HX" + "c" * 32,
                        "META_TEMPLATE_DE_LS": "infokanal_leicht",
                        "TEMPLATE_CATEGORY_DE_LS": "utility"}.items():
        monkeypatch.setenv(name, value)
    found = settings._per_language("BROADCAST_CONTENT_SID", ["en", EASY], None)
    assert found == {EASY: "HX" + "c" * 32}
    assert settings._per_language("META_TEMPLATE", [EASY], None) == {EASY: "infokanal_leicht"}
    assert settings.setting_suffix(EASY) == "DE_LS" and settings.setting_suffix("en") == "EN"


def test_an_app_with_de_ls_starts_and_reads_its_template_and_category(config):
    from bot import create_app

    app = create_app(dict(config, LANGUAGES="de,en,de-LS", BROADCAST_CONTENT_SID="HX" + "a" * 32,
                          BROADCAST_CONTENT_SID_DE_LS="HX" + "c" * 32,
                          TEMPLATE_CATEGORY_DE_LS="utility"))
    assert app.config["LANGUAGE_LIST"] == ["de", "en", EASY]
    assert app.config["CONTENT_SIDS"] == {EASY: "HX" + "c" * 32}
    assert app.config["TEMPLATE_CATEGORIES"][EASY] == "utility"


@pytest.mark.parametrize("code", ["de_LS", "de-", "de-L", "DE", "de-LS-x"])
def test_what_is_no_language_code_stops_the_start_with_the_reason(config, code):
    from bot import create_app

    with pytest.raises(ConfigError, match="de-LS for Leichte Sprache"):
        create_app(dict(config, LANGUAGES=f"de,{code}"))


# -- the texts --------------------------------------------------------------------------------

def test_leichte_sprache_is_chosen_by_its_name_and_joined_with_its_own_words():
    texts = loaded()
    assert texts.parse("Leichte Sprache").language == EASY
    assert texts.parse("leichte sprache!").action == "language"
    start = texts.parse("Start Leichte Sprache")
    assert (start.action, start.language) == ("start", EASY)
    assert texts.keyword("start", EASY) == "Start Leichte Sprache"
    assert texts.language_names[EASY] == "Leichte Sprache"
    for word in ("Neu", "Aktuell", "News", "neu!"):
        assert texts.parse(word).action == "news", word


QUOTED = re.compile(r"„([^“]+)“")
# The rules of Netzwerk Leichte Sprache, as far as a machine can check them.
ABBREVIATIONS = re.compile(r"\b(?:z\. ?B|d\. ?h|bzw|usw|ca|Nr|ggf|evtl|u\. ?a|inkl|Tel|Info)\b\.?")
PASSIVE = re.compile(r"\b(?:wird|werden|wurde|wurden|worden)\b"
                     # and the passive of state: "Sie sind abgemeldet", "ist gesperrt"
                     r"|\b(?:sind|ist)\s+(?:\w+\s+)?(?:an|ab|ge)\w+(?:t|en)\b",
                     re.IGNORECASE)
SUBJUNCTIVE = re.compile(r"\b(?:möchten?|würden?|könnten?|sollten?|hätten?|wären?|dürften?)\b",
                         re.IGNORECASE)
GENITIVE = re.compile(r"\b(?:des|eines|dessen|deren)\b", re.IGNORECASE)
NUMBER_WORDS = re.compile(r"\b(?:eins|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|einem "
                          r"Thema)\b", re.IGNORECASE)


def easy_texts():
    texts = loaded(TOPICS)
    fields = dict(topic="Baustellen und Sperrungen", mine="Veranstaltungen", list="Z",
                  name="N", slug="s", quote="X", start=texts.keyword("start", EASY),
                  stop=texts.keyword("stop", EASY), topics=texts.keyword("topics", EASY))
    return texts, {key: texts.get(key, EASY, **fields)
                   for key in set(TEXTS[EASY]) | set(TOPIC_TEXTS[EASY])}


def test_every_built_in_text_exists_in_leichte_sprache():
    assert set(TEXTS[EASY]) == set(TEXTS["de"])
    assert set(TOPIC_TEXTS[EASY]) == set(TOPIC_TEXTS["de"])


def test_the_leichte_sprache_texts_keep_the_rules_a_machine_can_check():
    texts, easy = easy_texts()
    for key, text in easy.items():
        assert not ABBREVIATIONS.search(text), (key, text)
        assert not PASSIVE.search(text), (key, text)
        assert not SUBJUNCTIVE.search(text), (key, text)
        assert not GENITIVE.search(text), (key, text)
        assert not NUMBER_WORDS.search(text), (key, text)
        assert "Meldung" not in text, (key, "one word for one thing: Nachricht")
        for line in text.split("\n"):
            # One statement a line: at most one sentence ends on it, and it stays short.
            ends = len(re.findall(r"[.?!](?:“)?(?=\s|$)", line.replace("„", "").strip()))
            assert ends <= 1, (key, line)
            words = [w for w in QUOTED.sub("X", line).split() if w not in ("{", "}")]
            assert len(words) <= 12, (key, line)
        for word in QUOTED.findall(text):
            if word != "X":
                assert texts.parse(word).action in ("start", "stop", "topics"), (key, word)


def test_leichte_sprache_replies_fit_a_phone_screen():
    _, easy = easy_texts()
    for key, text in easy.items():
        assert len(text) <= 420, (key, len(text))


def test_a_citizen_chooses_leichte_sprache_and_reads_every_answer_in_it(config):
    from bot import create_app
    from tests.conftest import citizens_of

    app = create_app(dict(config, LANGUAGES="de,en,de-LS"))
    person = citizens_of(app.test_client())()
    welcome = reply_text(person.send("Start Leichte Sprache").text)
    assert welcome.startswith("Willkommen!\nLandkreis Musterstadt schickt Ihnen jetzt")
    assert rows(app, "SELECT language FROM subscribers") == [(EASY,)]
    assert reply_text(person.send("Hilfe").text).startswith(
        "Landkreis Musterstadt schickt hier wichtige Nachrichten.")
    assert reply_text(person.send("Stopp").text).startswith("Wir haben Sie abgemeldet.")
    other = citizens_of(app.test_client())()
    other.send("Start")
    assert reply_text(other.send("Leichte Sprache").text) == (
        "Sie bekommen die Nachrichten jetzt in Leichter Sprache.")
    assert rows(app, "SELECT language FROM subscribers") == [(EASY,)]



def test_texts_said_together_in_leichte_sprache_stand_on_lines_of_their_own(config):
    from bot import create_app
    from tests.conftest import citizens_of

    app = create_app(dict(config, LANGUAGES="de,en,de-LS", CONTACT_INFO="0421 123-0"))
    person = citizens_of(app.test_client())()
    person.send("Start Leichte Sprache")
    notice = reply_text(person.send("Mein Ausweis ist abgelaufen").text)
    lines = notice.split("\n")
    # the notice's own lines, then how to leave, never run together into one line
    assert lines[-2:] == ["Sie wollen keine Nachrichten mehr?", "Dann schreiben Sie: „Stopp“."]
    assert all(line.count(". ") == 0 for line in lines), lines
    german = citizens_of(app.test_client())()
    german.send("Start")
    assert "\n" not in reply_text(german.send("Mein Ausweis ist abgelaufen").text)


# -- the feed's language labels ---------------------------------------------------------------

def detail(*tags, language="de"):
    infos = [info_block(f"Titel {tag}", f"Text {tag}", language=tag) for tag in tags]
    return nina.parse_warning({"status": "Actual", "msgType": "Alert", "info": infos}, "mow.1",
                              language)


@pytest.mark.parametrize("tags, main", [
    (("de-LS", "de-DE"), "Titel de-DE"),       # Leichte Sprache first: never read as German
    (("DE-LS", "EN", "DE"), "Titel DE"),
    (("en-US", "de-DE-LS"), "Titel en-US"),     # no standard German: the first that is not LS
    (("de-x-ls",), "Titel de-x-ls"),            # nothing else: what there is
])
def test_the_main_block_is_standard_german_whatever_the_order(tags, main):
    assert detail(*tags).headline == main


@pytest.mark.parametrize("tags, code, found", [
    (("de-DE", "en-US", "de-LS"), "en", "Titel en-US"),
    (("DE", "EN", "DE-LS"), "de-LS", "Titel DE-LS"),
    (("de-DE", "de_ls"), "de-LS", "Titel de_ls"),
    (("de-DE", "de-DE-LS"), "de-LS", "Titel de-DE-LS"),
    (("de-DE", "fr-FR"), "en", None),
    (("de-DE",), "de-LS", None),
])
def test_a_further_language_finds_its_block_however_the_feed_labels_it(tags, code, found):
    info = detail(*tags).in_language(code)
    assert (info.headline if info else None) == found


# -- the relay: one broadcast, each citizen's own text ----------------------------------------

@pytest.fixture
def county(config, nina_api):
    from bot import create_app

    return create_app(dict(config, LANGUAGES="de,en,de-LS", WARNINGS_ARS=ARS,
                           WARNINGS_API_URL=nina_api.url, WARNINGS_POLL_SECONDS=0.2,
                           WARNINGS_TIMEOUT_SECONDS=0.5))


LANGUAGE_BLOCKS = {
    "en-US": ("Major fire in Osterholz-Scharmbeck", "Heavy smoke in Buschhausen.",
              "Keep windows and doors closed."),
    "de-LS": ("Großes Feuer in Osterholz-Scharmbeck", "Es gibt viel Rauch.",
              "Machen Sie die Fenster zu."),
    "fr-FR": ("Grand incendie", "Fumée.", "Fermez les fenêtres."),
}


def texts_by_language(app, broadcast_id):
    import json

    [(text, translations)] = rows(app, "SELECT text, translations FROM broadcasts WHERE id = ?",
                                  broadcast_id)
    return text, json.loads(translations or "{}")


def test_a_warning_goes_out_as_one_broadcast_with_each_language_s_own_block(county, nina_api):
    warning_id = nina_api.add(languages=LANGUAGE_BLOCKS)
    poll(county, 2)
    [(broadcast_id, details)] = rows(
        county, "SELECT broadcast_id, 1 FROM relayed_warnings WHERE warning_id = ?", warning_id)
    text, translations = texts_by_language(county, broadcast_id)
    assert text.startswith("Großbrand in Osterholz-Scharmbeck\n\nStarke Rauchentwicklung")
    assert set(translations) == {"en", EASY}, "French is no language of the channel"
    assert translations["en"] == (
        "Major fire in Osterholz-Scharmbeck\n\nHeavy smoke in Buschhausen.\n\nKeep windows and "
        f"doors closed.\n\nMore information: https://warnung.bund.de/meldungen/{warning_id}")
    assert translations[EASY].startswith("Großes Feuer in Osterholz-Scharmbeck\n\nEs gibt viel")
    assert translations[EASY].endswith("Mehr Informationen: "
                                       f"https://warnung.bund.de/meldungen/{warning_id}")
    assert rows(county, "SELECT count(*) FROM broadcasts") == [(1,)]

    nina_api.update(warning_id, languages={"en-US": {"headline": "Fire: roads closed"},
                                           "de-LS": {"headline": "Straßen sind gesperrt"}})
    poll(county, 1)
    update_id = rows(county, "SELECT max(broadcast_id) FROM relayed_warnings")[0][0]
    _, translations = texts_by_language(county, update_id)
    assert translations["en"].startswith("Update: Fire: roads closed\n\n")
    assert translations[EASY].startswith("Neue Information: Straßen sind gesperrt\n\n")


def test_an_update_goes_only_to_the_readers_whose_text_it_changes(county, nina_api):
    """Readers of German (and of Leichte Sprache, who get German while the warning has no
    block in it) already have the German text: an update of the English block alone is for
    the English readers; one of the German text too goes to everyone, once each."""
    from bot.store.db import connect, write
    from tests.conftest import citizens_of

    client = county.test_client()
    people = {language: citizens_of(client)() for language in ("de", "en", EASY)}
    people["de"].send("Start")
    people["en"].send("Start")
    people["en"].send("English")
    people[EASY].send("Start Leichte Sprache")
    assert sorted(rows(county, "SELECT coalesce(language, '') FROM subscribers")) == [
        ("",), (EASY,), ("en",)]
    warning_id = nina_api.add(languages={"en-US": LANGUAGE_BLOCKS["en-US"]})
    poll(county, 2)
    with write(connect(county.config["DATABASE_PATH"])) as conn:
        conn.execute("UPDATE broadcasts SET status = 'done', started_at = created_at")

    def readers(broadcast_id):
        return sorted(rows(county, "SELECT coalesce(s.language, '') FROM deliveries d "
                                   "JOIN subscribers s ON s.id = d.subscriber_id "
                                   "WHERE d.broadcast_id = ?", broadcast_id))

    nina_api.update(warning_id, languages={"en-US": {"description": "Smoke in Ahrensfelde."}})
    poll(county, 1)
    english_only = rows(county, "SELECT max(broadcast_id) FROM relayed_warnings")[0][0]
    assert readers(english_only) == [("en",)]
    assert rows(county, "SELECT recipients FROM broadcasts WHERE id = ?",
                english_only) == [(1,)]
    with write(connect(county.config["DATABASE_PATH"])) as conn:
        conn.execute("UPDATE broadcasts SET status = 'done', started_at = created_at")
    nina_api.update(warning_id, languages={"de-DE": {"headline": "Großbrand: Straßen gesperrt"}})
    poll(county, 1)
    everyone = rows(county, "SELECT max(broadcast_id) FROM relayed_warnings")[0][0]
    assert readers(everyone) == [("",), (EASY,)], "the English block did not change"


def test_an_all_clear_of_a_vanished_warning_names_it_in_each_reader_s_language(
        county, nina_api):
    from bot.store.db import connect, write

    warning_id = nina_api.add(languages={"de-LS": LANGUAGE_BLOCKS["de-LS"]})
    poll(county, 1)
    with write(connect(county.config["DATABASE_PATH"])) as conn:
        # As if the sender had begun: the warning reached citizens.
        conn.execute("UPDATE broadcasts SET status = 'done', started_at = created_at")
    nina_api.remove(warning_id)
    poll(county, 3)
    last = rows(county, "SELECT max(broadcast_id) FROM relayed_warnings "
                        "WHERE kind = 'all_clear'")[0][0]
    text, translations = texts_by_language(county, last)
    assert text.startswith("Entwarnung: Großbrand in Osterholz-Scharmbeck")
    assert translations == {EASY: "Die Gefahr ist vorbei: Großes Feuer in "
                                  "Osterholz-Scharmbeck\n\nDie Warnung gilt nicht mehr."}


def test_the_public_page_marks_leichte_sprache_as_german_for_screen_readers(config):
    from bot import create_app

    app = create_app(dict(config, LANGUAGES="de,en,de-LS"))
    page = app.test_client().get("/").get_data(as_text=True)
    assert '<li lang="de">Leichte Sprache: „Start Leichte Sprache“</li>' in page
    assert '<li lang="en">' in page and 'lang="de-LS"' not in page
