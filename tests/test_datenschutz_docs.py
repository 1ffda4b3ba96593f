"""The Datenschutz pages of the documentation (``docs/datenschutz``), for the data protection
officer: every retention period the service has a setting for is named there with its default,
and the Art. 30 template is linked from the page and names its own parts."""

import re
from pathlib import Path

import pytest

from bot import config

FOLDER = Path(__file__).resolve().parent.parent / "docs" / "datenschutz"
PAGE = (FOLDER / "index.md").read_text(encoding="utf-8")
TEMPLATE = (FOLDER / "verzeichnis.md").read_text(encoding="utf-8")
# How long what is kept stays: the settings the page must explain.
KEPT = sorted(name for name in config.SETTINGS
              if name.startswith("RETENTION_") or name in ("BACKUP_KEEP_DAYS",
                                                            "NOTICE_WINDOW_HOURS",
                                                            "SIGNIN_LOCK_MINUTES",
                                                            "CONSOLE_SESSION_HOURS"))


@pytest.mark.parametrize("name", KEPT)
def test_each_retention_setting_is_on_the_page_with_its_default(name):
    default = config.SETTINGS[name][0]
    shown = f"{default:g}" if isinstance(default, float) else str(default)
    assert f"`{name}` ({shown})" in PAGE


def test_the_page_links_the_art_30_template_and_the_template_links_back():
    assert "](verzeichnis.md)" in PAGE
    assert "](index.md#gespeichert)" in TEMPLATE
    assert re.search(r"^## .*\{#gespeichert\}$", PAGE, re.MULTILINE)
    for row in ("Verantwortliche Stelle", "Rechtsgrundlage", "Löschfristen",
                "Technische und organisatorische Maßnahmen"):
        assert f"| {row} |" in TEMPLATE
