"""The warnings relay's settings: the issue's names and defaults, and a configuration that
cannot work stops the start with the reason."""

import pytest

from bot import create_app
from bot.config import SETTINGS, ConfigError
from bot.delivery.chores import WarningRelay
from tests import documentation
from tests.conftest import refused_start


def test_without_a_regional_key_there_is_no_relay_and_the_defaults_are_the_documented_ones(app):
    assert WarningRelay.from_settings(dict(app.config)) is None
    assert {name: app.config[name] for name in (
        "WARNINGS_ARS", "WARNINGS_API_URL", "WARNINGS_POLL_SECONDS", "WARNINGS_MIN_SEVERITY",
        "WARNINGS_MODE", "WARNINGS_PROVIDERS", "WARNINGS_MAX_PER_POLL")} == {
        "WARNINGS_ARS": "", "WARNINGS_API_URL": "https://warnung.bund.de/api31",
        "WARNINGS_POLL_SECONDS": 60.0, "WARNINGS_MIN_SEVERITY": "Severe",
        "WARNINGS_MODE": "send", "WARNINGS_PROVIDERS": "mowas,katwarn,biwapp,dwd,lhp,police",
        "WARNINGS_MAX_PER_POLL": 5}


def test_settings_are_read_in_any_case_and_normalised(config):
    app = create_app(dict(config, WARNINGS_ARS="033560000000", WARNINGS_MIN_SEVERITY="extreme",
                          WARNINGS_MODE="Draft", WARNINGS_PROVIDERS=" DWD, lhp ",
                          WARNINGS_API_URL="http://127.0.0.1:9/api31/"))
    relay = WarningRelay.from_settings(dict(app.config))
    assert (relay.relay.min_severity, relay.relay.send) == ("Extreme", False)
    assert relay.relay.max_per_poll == 5
    relay = WarningRelay.from_settings(dict(app.config, WARNINGS_MAX_PER_POLL=12))
    assert relay.relay.max_per_poll == 12 and "at most 12 from one poll" in relay.describe()
    assert relay.relay.providers == {"dwd", "lhp"}
    assert relay.client.base_url == "http://127.0.0.1:9/api31"


@pytest.mark.parametrize("ars", ["03356", "0335600000000", "03356000000a", "０３３５６０００００００"])
def test_a_regional_key_that_is_not_12_digits_stops_the_start(config, ars):
    with pytest.raises(ConfigError, match="WARNINGS_ARS must be the county's 12-digit regional"):
        create_app(dict(config, WARNINGS_ARS=ars))


def test_a_municipalitys_key_stops_the_start_with_the_county_key_to_use(config):
    with pytest.raises(ConfigError, match="its last 7 digits must be 0 .here: 033560000000."):
        create_app(dict(config, WARNINGS_ARS="033565001001"))


@pytest.mark.parametrize("name, value, reason", [
    ("WARNINGS_MIN_SEVERITY", "Hoch", "WARNINGS_MIN_SEVERITY must be one of Minor"),
    ("WARNINGS_MODE", "auto", "WARNINGS_MODE must be send or draft"),
    ("WARNINGS_PROVIDERS", "mowas,twitter", "unknown providers \\['twitter'\\]"),
    ("WARNINGS_POLL_SECONDS", "0", "WARNINGS_POLL_SECONDS must be above 0"),
    ("WARNINGS_API_URL", "warnung.bund.de", "WARNINGS_API_URL must be an http"),
    ("WARNINGS_MAX_PER_POLL", "0", "WARNINGS_MAX_PER_POLL must be a whole number of at least 1"),
    ("WARNINGS_MAX_PER_POLL", "-3", "WARNINGS_MAX_PER_POLL must be a whole number of at least 1"),
    ("WARNINGS_MAX_PER_POLL", "2.5", "WARNINGS_MAX_PER_POLL must be a whole number, not '2.5'"),
    ("WARNINGS_MAX_PER_POLL", "fünf", "WARNINGS_MAX_PER_POLL must be a whole number"),
])
def test_a_relay_setting_that_cannot_work_stops_the_start(config, name, value, reason):
    with pytest.raises(ConfigError, match=reason):
        create_app(dict(config, WARNINGS_ARS="033560000000", **{name: value}))


def test_the_worker_does_not_start_with_a_bad_regional_key(env):
    returncode, output = refused_start("worker", dict(env, WARNINGS_ARS="3356"))
    assert returncode != 0
    assert "WARNINGS_ARS must be the county's 12-digit regional key" in output


README = documentation.EVERYTHING
CONFIGURATION = documentation.page(documentation.CONFIGURATION)


@pytest.mark.parametrize("name", [n for n in SETTINGS if n.startswith("WARNINGS_")])
def test_every_relay_setting_is_in_the_configuration_table(name):
    assert f"| `{name}` |" in CONFIGURATION


def test_the_readme_example_is_what_citizens_receive():
    """The operator's guide shows an example message; it must be what the relay writes for it."""
    from bot.domain import warnings as relaying
    from tests.fake_nina import info_block
    from tests.test_warnings_text import detail, relay

    storm = detail(info_block(
        "Amtliche UNWETTERWARNUNG vor ORKANBÖEN",
        "Es treten Orkanböen mit Geschwindigkeiten bis 120 km/h (33 m/s, 64 kn, Bft 12) aus "
        "westlicher Richtung auf.",
        "ACHTUNG! Verbreitet schwere Schäden an Gebäuden möglich. Halten Sie sich nicht im "
        "Freien auf. Meiden Sie die Nähe von Bäumen.",
        severity="Extreme", web_url="https://www.wettergefahren.de"))
    assert "```\n" + relaying.compose(relay(), "alert", storm) + "\n```" in README
    assert "# Official warnings, relayed by themselves" in documentation.page(
        "operations/warnings.md")
    assert "Amtliche Warnungen (NINA)" in README and "keine personenbezogenen" in README
