"""The operator commands and settings are documented and explain themselves: the
documentation names each one, and each answers --help; every setting has its row in the
operator's guide's configuration table. The platform guide (docs/platforms.md) says where each
setting of a Meta number comes from, and its webhook address is the one nginx passes on."""

import re

import pytest

from bot import config
from tests import documentation

# What an operator reads: the README and the site's pages, as one text (other test modules
# import this name, so that a section may move between README and docs/).
README = documentation.EVERYTHING
CONFIGURATION = documentation.page(documentation.CONFIGURATION)


@pytest.mark.parametrize("command", [["keys", "new"], ["keys", "rotate"], ["privacy", "export"],
                                     ["privacy", "erase"], ["backup"], ["cleanup"],
                                     ["audit", "verify"], ["audit", "export"], ["users", "role"],
                                     ["replica", "follow"], ["replica", "status"], ["failover"]])
def test_command_has_help_and_is_documented(app, command):
    result = app.test_cli_runner().invoke(args=[*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    assert f"scripts/flask {' '.join(command)}" in README


@pytest.mark.parametrize("name", ["DATA_KEY", "RETENTION_INBOUND_DAYS", "RETENTION_DELIVERY_DAYS",
                                  "RETENTION_CONSENT_YEARS", "CLEANUP_INTERVAL_HOURS",
                                  "ACCESS_LOG", "RETENTION_AUDIT_YEARS", "APPROVAL_REQUIRED",
                                  "TEST_RECIPIENTS", "PRICE_PER_MESSAGE", "PRICE_CURRENCY",
                                  "DATA_PROTECTION_OFFICER", "WHATSAPP_PLATFORM",
                                  "META_ACCESS_TOKEN", "META_PHONE_NUMBER_ID", "META_APP_SECRET",
                                  "META_VERIFY_TOKEN", "META_API_URL", "META_API_VERSION",
                                  "META_TEMPLATE", "META_TEMPLATE_LANGUAGE", "META_TEMPLATE_<LANG>",
                                  "META_PARAGRAPH_TEMPLATES", "META_PARAGRAPH_TEMPLATES_<LANG>",
                                  "META_DISPLAY_PHONE_NUMBER", "REPLICA_URL", "REPLICA_S3_ENDPOINT",
                                  "REPLICA_WAIT_SECONDS", "REPLICA_LEASE_SECONDS"])
def test_setting_is_in_the_configuration_table(name):
    assert f"| `{name}` |" in CONFIGURATION


# Rows that name several settings at once ("| `KEYWORDS_START`, `KEYWORDS_STOP`, … |").
TABLE_ROW = re.compile(r"^\| (`[A-Z0-9_<>]+`(?:, `[A-Z0-9_<>]+`)*) \|", re.M)


@pytest.mark.parametrize("name", sorted(config.SETTINGS))
def test_every_setting_has_a_row_in_the_configuration_table(name):
    named = {word.strip("`") for row in TABLE_ROW.findall(CONFIGURATION)
             for word in row.split(", ")}
    assert name in named, f"no row | `{name}` | in docs/{documentation.CONFIGURATION}"


def test_the_data_protection_officer_has_a_page():
    assert documentation.DATENSCHUTZ in documentation.PAGES
    assert "Verzeichnis von Verarbeitungstätigkeiten" in README
    assert "datenschutz/index.md" in documentation.README


PLATFORM_GUIDE = documentation.page(documentation.PLATFORMS)
NGINX_SITE = (documentation.ROOT / "deploy" / "nginx" / "infokanal.conf").read_text(
    encoding="utf-8")


def test_the_readme_sends_the_operator_to_the_platform_guide():
    assert "(docs/platforms.md)" in documentation.README
    assert "## Connecting a number to Meta's Cloud API" in PLATFORM_GUIDE


@pytest.mark.parametrize("name", ["WHATSAPP_PLATFORM", "META_ACCESS_TOKEN", "META_PHONE_NUMBER_ID",
                                  "META_APP_SECRET", "META_VERIFY_TOKEN", "META_TEMPLATE",
                                  "META_TEMPLATE_LANGUAGE", "META_TEMPLATE_<LANG>",
                                  "META_PARAGRAPH_TEMPLATES", "META_PARAGRAPH_TEMPLATES_<LANG>",
                                  "META_DISPLAY_PHONE_NUMBER", "SEND_RATE_LIMIT",
                                  "MESSAGING_LIMIT_24H", "PRICE_PER_MESSAGE", "TEST_RECIPIENTS"])
def test_the_platform_guide_says_where_each_setting_of_a_meta_number_comes_from(name):
    # Named on its own (`NAME`) or with its value (`NAME=…`).
    assert re.search(rf"`{re.escape(name)}[`=]", PLATFORM_GUIDE)


def test_the_guides_callback_url_is_the_path_nginx_passes_to_the_app():
    path = re.search(r"location = (/meta/\S+) \{", NGINX_SITE).group(1)
    assert f"Callback URL: the host of `PUBLIC_URL` with `{path}`" in PLATFORM_GUIDE
    assert f"https://<PUBLIC_URL's host>{path}" in README
