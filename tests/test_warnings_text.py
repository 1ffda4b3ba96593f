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


@pytest.mark.parametrize("marked, plain", [
    # Bidi overrides and isolates would turn the text around in WhatsApp ("gnunraW" for
    # "Warnung"); zero-width and other format characters hide what it says.
    ("Evakuierung \u202eGNUNRAW\u202c sofort", "Evakuierung GNUNRAW sofort"),
    ("\u2066Deich\u2069 \u2067bei\u2069 \u2068Ritterhude\u2069 \u202a\u202b\u202d",
     "Deich bei Ritterhude"),
    ("Zero\u200bwidth\u200c\u200d\u200e\u200f\ufeff\u00ad\u2060\u061c text",
     "Zerowidth text"),
    ("Zeile eins\u2028Zeile zwei\u2029Absatz\x85Ende", "Zeile eins\nZeile zwei\nAbsatz\nEnde"),
    ("Steuer\x1b[31mzeichen\x07\x00\x9b weg", "Steuer[31mzeichen weg"),
    ("Entität &#x202E;gedreht&#8236; &#8203;", "Entität gedreht"),
    # Lone surrogates cannot be sent or stored (the relay once gave up the whole poll on one).
    ("Sturm\ud800 über\udfff dem Moor", "Sturm über dem Moor"),
    ("Emoji bleibt: \U0001F6A8 Ärger", "Emoji bleibt: \U0001F6A8 Ärger"),
])
def test_invisible_bidi_and_control_characters_never_reach_citizens(marked, plain):
    assert nina.plain_text(marked) == plain


@pytest.mark.parametrize("marked, plain", [
    ("&amp;lt;img src=x onerror=alert(1)&amp;gt;Hochwasser", "Hochwasser"),
    ("&amp;lt;b&amp;gt;Deiche&amp;lt;/b&amp;gt; meiden", "Deiche meiden"),
    ("&amp;amp;lt;img src=x&amp;amp;gt;Dreifach", "Dreifach"),
    # Beyond the rounds any source needs, what is left is escaped, never a tag.
    ("&amp;amp;amp;amp;amp;lt;img src=x&amp;amp;amp;amp;amp;gt;Sechsfach",
     "&amp;lt;img src=x&amp;gt;Sechsfach"),
    ("&lt;script&gt;alert(1)&lt;/script&gt;Nur dies", "Nur dies"),
    ("<a title=\"a > b\" href='x'>Link</a> und <!-- Kommentar --> mehr", "Link und mehr"),
    ("Fenster schließen.<br/><br/", "Fenster schließen."),
    ("Fenster schließen.&lt;br/&gt;&lt;br/", "Fenster schließen."),
    ("Fenster schließen.<p class=\"x", "Fenster schließen."),
    ("Pegel < 3 m, bald > 4 m", "Pegel < 3 m, bald > 4 m"),
])
def test_markup_escaped_twice_or_cut_off_never_reaches_citizens(marked, plain):
    text = nina.plain_text(marked)
    assert text == plain
    assert "<img" not in text and "<b>" not in text and "<br" not in text


def test_a_field_is_read_up_to_a_bound():
    long_text = "Der Pegel der Wümme steigt. " * 1000  # 28,000 characters
    text = nina.plain_text(long_text)
    assert len(text) <= nina.MAX_FIELD_CHARS and long_text.startswith(text)
    assert nina.plain_text("Großbrand" + "<b>" * 10_000 + "unsichtbar") == "Großbrand"
    # A headline is a line: the dashboard's are read at every poll.
    assert len(detail(dict(FIRE, headline="Sturm " * 1000)).headline) <= nina.MAX_HEADLINE_CHARS
    [entry] = nina.parse_dashboard([{"id": "mow.1", "payload": {"data": {
        "headline": "Sturm " * 1000}}}])
    assert len(entry.headline) <= nina.MAX_HEADLINE_CHARS


# Each is far beyond what a source sends; the standard library's HTML parser took 22.5 s for
# the first (on the worker's event loop, at every poll) and never finished the second.
ADVERSARIAL = {
    "<a * 100000 (200 KB)": "'<a' * 100_000",
    "<a * 500000 (1 MB)": "'<a' * 500_000",
    "headline + <a * 500000": "'Großbrand ' + '<a' * 500_000",
    "unclosed quotes": "'<a x=\"' * 200_000",
    "comments": "'<!--' * 250_000",
    "escaped tags": "'&lt;a' * 250_000",
    "lone <": "'<' * 1_000_000",
    "tags": "'<b>x' * 250_000",
    "entities": "'&amp;' * 200_000",
}


def test_cleaning_a_hostile_text_takes_bounded_time():
    """Run in a process of its own, so that a cleaner that does not end cannot hold up the
    suite: it must clean all of these together within a generous bound."""
    import subprocess
    import sys
    from pathlib import Path

    script = "\n".join([
        "import json, time", "from bot import nina", "results = {}",
        "started = time.perf_counter()",
        *(f"results[{name!r}] = nina.plain_text({expression})"
          for name, expression in ADVERSARIAL.items()),
        "print(json.dumps({'seconds': time.perf_counter() - started,",
        "                  'lengths': {k: len(v) for k, v in results.items()},",
        "                  'headline': results['headline + <a * 500000']}))"])
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60, cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        pytest.fail("cleaning hostile texts did not end within 60 s")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["seconds"] < 5, answer
    assert answer["headline"] == "Großbrand"
    assert all(length <= nina.MAX_FIELD_CHARS + 1 for length in answer["lengths"].values())


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


@pytest.mark.parametrize("template, limit", [(True, 924), (False, 1600)])
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


def test_on_meta_a_warning_is_shortened_to_what_the_template_leaves():
    settings = config_module.load("/nonexistent", {
        "LANGUAGE": "de", "WHATSAPP_PLATFORM": "meta", "META_TEMPLATE": "infokanal_meldung",
        "TEMPLATE_FIXED_CHARACTERS": "150"})
    meta = relaying.Relay.of(settings, texts.load_texts(settings))
    long_text = " ".join(f"Abschnitt {n}: Der Pegel steigt weiter an." for n in range(200))
    text = relaying.compose(meta, "alert", detail(dict(STORM, description=long_text)))
    assert 874 - 60 < len(text) <= 874


def test_an_overlong_instruction_gives_way_after_the_description():
    wordy = detail(dict(STORM, description="Kurz. " * 300, instruction="Bleiben Sie drinnen. " * 100))
    text = relaying.compose(relay(template=True), "alert", wordy)
    assert len(text) <= 924
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
        "Entwarnung: Großbrand\n\nDas Feuer ist gelöscht.\n\nMehr Informationen: "), \
        "a headline that already says it is not doubled"


@pytest.mark.parametrize("headline, update, all_clear", [
    ("1. AKTUALISIERUNG: Großbrand in Lilienthal", "Aktualisierung: Großbrand in Lilienthal",
     "Entwarnung: Großbrand in Lilienthal"),
    ("2. Aktualisierung - Großbrand in Lilienthal", "Aktualisierung: Großbrand in Lilienthal",
     "Entwarnung: Großbrand in Lilienthal"),
    ("UPDATE: Sturmflut an der Weser", "Aktualisierung: Sturmflut an der Weser",
     "Entwarnung: Sturmflut an der Weser"),
    ("ENTWARNUNG: Bombenfund in Grasberg", "Aktualisierung: Bombenfund in Grasberg",
     "Entwarnung: Bombenfund in Grasberg"),
    ("Aktualisierung: 3. Aktualisierung – Gasaustritt", "Aktualisierung: Gasaustritt",
     "Entwarnung: Gasaustritt"),
    ("Updates zur Lage in Worpswede", "Aktualisierung: Updates zur Lage in Worpswede",
     "Entwarnung: Updates zur Lage in Worpswede"),
])
def test_the_sources_own_update_word_is_not_doubled_and_an_all_clear_names_the_warning(
        headline, update, all_clear):
    """A MoWaS update titled "1. AKTUALISIERUNG: …" once read "Aktualisierung: 1.
    AKTUALISIERUNG: …", and its all-clear "Entwarnung: 1. AKTUALISIERUNG: …"."""
    revision = detail(dict(FIRE, headline=headline))
    assert relaying.compose(relay(), "update", revision).split("\n\n")[0] == update
    assert relaying.compose_all_clear(relay(), headline).split("\n\n")[0] == all_clear
    assert relaying.compose(relay(), "alert", revision).split("\n\n")[0] == headline, \
        "a warning citizens never got keeps the source's headline"


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


@pytest.mark.parametrize("answer", [{"error": "x"}, "[]", [{"payload": {}}], [{"id": ""}]])
def test_a_dashboard_that_cannot_be_read_whole_is_a_feed_error(answer):
    with pytest.raises(nina.FeedError):
        nina.parse_dashboard(answer)


@pytest.mark.parametrize("item, problem", [
    ({"id": "mow.1", "payload": "x"}, "it has no payload"),
    ({"id": "mow.1", "payload": {"version": "zwei"}}, "its version 'zwei' is not a whole number"),
    ({"id": "mow.1", "payload": {"version": 10**20}}, "its version '100000000000000000000'"),
    ({"id": "mow.1", "payload": {"version": "9" * 5000}}, "is not a whole number"),
    ({"id": "mow.1", "payload": {"version": 1.5}}, "is not a whole number"),
    ({"id": "mow.\ud800", "payload": {"version": 1}}, "its id is not plain text"),
])
def test_an_entry_that_cannot_be_read_is_listed_with_its_problem_and_the_others_are_read(
        item, problem):
    """One bad entry must not make the whole dashboard unreadable (no warning would be relayed
    while it is listed), nor be left out (it would look like a warning that ended)."""
    good = {"id": "mow.2", "payload": {"version": 2, "hash": "h", "data": {
        "headline": "Bombenfund", "severity": "Severe", "provider": "MOWAS"}}}
    bad, read = nina.parse_dashboard([item, good])
    assert problem in bad.problem and bad.id.startswith("mow.")
    assert (read.id, read.version, read.headline, read.problem) == ("mow.2", 2, "Bombenfund", "")
    assert nina.parse_dashboard([{"id": "mow.3", "payload": {"version": 2**63 - 1}}]
                                )[0].problem == "", "the largest version SQLite keeps is fine"


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
