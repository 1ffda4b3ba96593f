"""What citizens read of an official warning: cleaned, in the right language, in the mode's
limit; and how the feed's JSON is read (real-world-shaped warnings, as NINA serves them)."""

import json

import pytest

from bot import config as config_module
from bot import nina, texts
from bot.domain import warnings as relaying
from tests.fake_nina import info_block

STORM = info_block(
    "Amtliche UNWETTERWARNUNG vor ORKANBÖEN",
    "Es treten oberhalb 1000 m Orkanböen mit Geschwindigkeiten bis 140 km/h (39m/s, 76kn, "
    "Bft 12) aus westlicher Richtung auf. In exponierten Lagen muss mit extremen Orkanböen bis "
    "160 km/h gerechnet werden.",
    "ACHTUNG! Hinweis auf mögliche Gefahren: Verbreitet schwere Schäden an Gebäuden möglich. "
    "Bäume können entwurzelt werden.",
    severity="Extreme", web_url="https://www.wettergefahren.de")
STORM_EN = info_block(
    "Official WARNING of HURRICANE FORCE GUSTS",
    "There is a risk of hurricane force gusts (level 4 of 4).",
    "NOTE: Be aware of the following possible dangers: widespread damage to buildings.",
    severity="Extreme", language="en-GB", web_url="https://www.wettergefahren.de")
FIRE = info_block(
    "Großbrand in Osterholz-Scharmbeck",
    "Im Ortsteil Buschhausen brennt eine Lagerhalle.<br/>Es kommt zu starker "
    "Rauchentwicklung.<br><br>\r\nBetroffen sind die Stra&szlig;en &quot;Am Markt&quot; und "
    "Bahnhofstra&szlig;e&nbsp;1&ndash;20.",
    "<ul><li>Halten Sie Fenster und T&uuml;ren geschlossen.</li>"
    "<li>Schalten Sie L&uuml;ftungs- und Klimaanlagen ab.</li></ul>")


def relay(template=False, language="de", texts_file=""):
    settings = config_module.load("/nonexistent", {
        "LANGUAGE": language, "TEXTS_FILE": texts_file,
        "BROADCAST_CONTENT_SID": "HX" + "0" * 32 if template else ""})
    return relaying.Relay.of(settings, texts.load_texts(settings))


def detail(*infos, language="de", warning_id="mow.DE-NI-OHZ-W001-20261124-000", **fields):
    data = {"identifier": warning_id, "sender": "DE-NI-OHZ", "sent": "2026-11-24T03:12:00+01:00",
            "status": "Actual", "msgType": "Alert", "scope": "Public", "info": list(infos)}
    data.update(fields)
    return nina.parse_warning(data, warning_id, language)


def test_html_tags_entities_and_line_breaks_become_plain_text():
    fire = detail(FIRE)
    assert fire.description == (
        "Im Ortsteil Buschhausen brennt eine Lagerhalle.\nEs kommt zu starker "
        "Rauchentwicklung.\nBetroffen sind die Straßen \"Am Markt\" und Bahnhofstraße 1–20.")
    assert fire.instruction == ("- Halten Sie Fenster und Türen geschlossen.\n"
                                "- Schalten Sie Lüftungs- und Klimaanlagen ab.")


@pytest.mark.parametrize("marked, plain", [
    ("Sturm &amp;uuml;ber dem Teufelsmoor", "Sturm über dem Teufelsmoor"),
    ("&lt;p&gt;Pegel steigt&lt;/p&gt;&lt;p&gt;Deiche meiden&lt;/p&gt;",
     "Pegel steigt\nDeiche meiden"),
    ("Temperatur < 0 °C,   Glätte\t möglich", "Temperatur < 0 °C, Glätte möglich"),
    ("<script>alert(1)</script>Nur dies<style>p{}</style>", "Nur dies"),
    (None, ""), (42, ""),
])
def test_marked_up_text_is_cleaned_also_when_escaped_twice(marked, plain):
    assert nina.plain_text(marked) == plain


@pytest.mark.parametrize("infos, language, headline", [
    ([STORM_EN, STORM], "de", STORM["headline"]),
    ([STORM_EN, STORM], "en", STORM_EN["headline"]),
    ([dict(STORM_EN, language="fr-FR", headline="Alerte"), STORM], "en", STORM["headline"]),
    ([dict(STORM_EN, language="pl", headline="Ostrzeżenie"),
      dict(STORM_EN, language="fr", headline="Alerte")], "de", "Ostrzeżenie"),
    ([dict(STORM, language="DE")], "en", STORM["headline"]),
])
def test_the_main_languages_info_block_is_read_else_german_else_the_first(infos, language,
                                                                        headline):
    assert detail(*infos, language=language).headline == headline


def test_a_headline_is_one_line():
    assert detail(dict(FIRE, headline="Großbrand<br/>in Osterholz")).headline == \
        "Großbrand in Osterholz"


def test_a_warning_reads_headline_description_instruction_and_link_in_that_order():
    text = relaying.compose(relay(), "alert", detail(STORM_EN, STORM))
    assert text == (
        "Amtliche UNWETTERWARNUNG vor ORKANBÖEN\n\n" + STORM["description"] + "\n\n"
        + STORM["instruction"] + "\n\nMehr Informationen: https://www.wettergefahren.de")


def test_without_a_web_page_of_its_own_the_link_is_ninas_page():
    text = relaying.compose(relay(), "alert", detail(FIRE))
    assert text.endswith(
        "Mehr Informationen: https://warnung.bund.de/meldungen/mow.DE-NI-OHZ-W001-20261124-000")
    bare = detail(dict(FIRE, web="www.landkreis-osterholz.de/brand"))
    assert bare.more_url == "https://www.landkreis-osterholz.de/brand"
    assert detail(dict(FIRE, web="siehe Homepage")).more_url == bare.page_url


@pytest.mark.parametrize("template, limit", [(True, 1024), (False, 1600)])
def test_a_long_description_is_shortened_to_the_modes_limit(template, limit):
    long_text = " ".join(f"Abschnitt {n}: Der Pegel der Wümme steigt weiter an." for n in range(200))
    flood = detail(dict(STORM, headline="Hochwasser an der Wümme", description=long_text,
                        web="https://www.pegelonline.wsv.de/gast/stammdaten?pegelnr=4940010"))
    text = relaying.compose(relay(template=template), "alert", flood)
    assert len(text) <= limit and len(text) > limit - 60
    headline, description, instruction, link = text.split("\n\n")
    assert headline == "Hochwasser an der Wümme"
    assert description.endswith("…") and long_text.startswith(description[:-1])
    assert description[-2] != " " and long_text[len(description) - 1] == " ", "a whole word"
    assert instruction == STORM["instruction"]
    assert link == "Mehr Informationen: https://www.pegelonline.wsv.de/gast/stammdaten?pegelnr=4940010"


def test_an_overlong_instruction_gives_way_after_the_description():
    wordy = detail(dict(STORM, description="Kurz. " * 300, instruction="Bleiben Sie drinnen. " * 100))
    text = relaying.compose(relay(template=True), "alert", wordy)
    assert len(text) <= 1024
    parts = text.split("\n\n")
    assert parts[0] == STORM["headline"] and parts[-1].startswith("Mehr Informationen: https://")
    assert parts[1].startswith("Bleiben Sie drinnen.") and parts[1].endswith("…")


def test_an_update_begins_with_aktualisierung_and_an_all_clear_with_entwarnung():
    text = relaying.compose(relay(), "update", detail(FIRE))
    assert text.startswith("Aktualisierung: Großbrand in Osterholz-Scharmbeck\n\n")
    assert relaying.compose_all_clear(relay(), "Großbrand in Osterholz-Scharmbeck") == (
        "Entwarnung: Großbrand in Osterholz-Scharmbeck\n\nDie Warnung ist aufgehoben.")
    cancel = detail(dict(FIRE, headline="Entwarnung - Großbrand", description="Das Feuer ist gelöscht.",
                         instruction=""), msgType="Cancel")
    assert relaying.compose_all_clear(relay(), cancel.headline, cancel).startswith(
        "Entwarnung - Großbrand\n\nDas Feuer ist gelöscht.\n\nMehr Informationen: "), \
        "a headline that already says it is not doubled"


def test_the_words_come_from_the_texts_file_per_language(tmp_path):
    path = tmp_path / "texte.json"
    path.write_text(json.dumps({"de": {"warning_update": "Neue Lage:"},
                                "en": {"warning_all_clear": "It is over:"}}), encoding="utf-8")
    german = relay(texts_file=str(path))
    assert relaying.compose(german, "update", detail(FIRE)).startswith("Neue Lage: Großbrand")
    english = relay(language="en", texts_file=str(path))
    assert relaying.compose_all_clear(english, "Storm") == (
        "It is over: Storm\n\nThe warning has been lifted.")
    assert relaying.compose(english, "update", detail(STORM_EN, STORM, language="en")) \
        .startswith("Update: Official WARNING of HURRICANE FORCE GUSTS")


@pytest.mark.parametrize("answer", [{"error": "x"}, "[]", [{"payload": {}}],
                                    [{"id": "mow.1", "payload": "x"}],
                                    [{"id": "mow.1", "payload": {"version": "zwei"}}]])
def test_a_dashboard_that_cannot_be_read_whole_is_a_feed_error(answer):
    with pytest.raises(nina.FeedError):
        nina.parse_dashboard(answer)


def test_a_dashboard_entry_is_read_into_our_words():
    [entry] = nina.parse_dashboard([{
        "id": "dwdmap.2.49.0.0.276.0.DWD.PVW.1732412400000.abc.MUL", "sent": "2026-11-24T03:00:00+01:00",
        "payload": {"version": 3, "type": "ALERT", "hash": "d725", "data": {
            "headline": "Amtliche WARNUNG vor STURMBÖEN", "provider": "DWD", "severity": "Moderate",
            "msgType": "Update", "transKeys": {"event": "BBK-EVC-040"}}},
        "i18nTitle": {"de": "Amtliche WARNUNG vor STURMBÖEN"}}])
    assert (entry.provider, entry.version, entry.hash, entry.severity, entry.msg_type) == (
        "dwd", 3, "d725", "Moderate", "Update")
    [unnamed] = nina.parse_dashboard([{"id": "pol.123", "payload": {"data": {}}}])
    assert unnamed.provider == "police" and unnamed.version == 0


@pytest.mark.parametrize("data", [[], {"info": []}, {"info": [{"headline": "<br>"}]},
                                  {"info": ["text"]}])
def test_a_warning_with_nothing_to_tell_is_a_feed_error(data):
    with pytest.raises(nina.FeedError):
        nina.parse_warning(data, "mow.1")


def test_references_name_the_warnings_an_update_or_cancel_is_about():
    update = detail(FIRE, msgType="Update", references=(
        "DE-NI-OHZ,DE-NI-OHZ-W001-20261124-000,2026-11-24T03:12:00+01:00 "
        "DE-NI-OHZ,DE-NI-OHZ-W001-20261124-001,2026-11-24T03:40:00+01:00"))
    assert update.references == ("DE-NI-OHZ-W001-20261124-000", "DE-NI-OHZ-W001-20261124-001")
    assert nina.same_warning("mow.DE-NI-OHZ-W001-20261124-000", update.references[0])
