"""The operator commands and settings of the privacy issue are documented and explain
themselves: the README names each one, and each answers --help. The platform guide
(docs/platforms.md) says where each setting of a Meta number comes from, and its webhook
address is the one nginx passes on."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", [["keys", "new"], ["keys", "rotate"], ["privacy", "export"],
                                     ["privacy", "erase"], ["backup"], ["cleanup"],
                                     ["audit", "verify"], ["audit", "export"], ["users", "role"],
                                     ["replica", "follow"], ["replica", "status"], ["failover"]])
def test_command_has_help_and_is_in_the_readme(app, command):
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
    assert f"| `{name}` |" in README


def test_readme_has_the_sections_for_the_data_protection_officer():
    assert "## Datenschutz" in README and "Verzeichnis von Verarbeitungstätigkeiten" in README
    assert "## Operations: keys, backup and restore" in README


PLATFORM_GUIDE = (Path(__file__).resolve().parent.parent / "docs" / "platforms.md").read_text(
    encoding="utf-8")
NGINX_SITE = (Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "infokanal.conf"
              ).read_text(encoding="utf-8")


def test_the_readme_sends_the_operator_to_the_platform_guide():
    assert "## WhatsApp platforms: Twilio or Meta" in README
    assert "## Connecting a number to Meta's Cloud API" in README
    assert README.count("(docs/platforms.md)") >= 2


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
