"""The documentation site builds with MkDocs in strict mode (no broken link, no missing page),
offline, and is whole: every setting, operator command, script, route, API path, console page
and start-up error message appears in it.

The build takes a few seconds; it runs once for the module.
"""

import json
import os
import re
import subprocess
import sys

import click
import pytest

from bot.web import openapi
from tests import documentation
from tests.documentation import EVERYTHING, ROOT

# Rules a Flask converter writes as <int:broadcast_id>; the documentation says <id>.
DOCUMENTED_AS = {"<int:broadcast_id>": "<id>"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    directory = tmp_path_factory.mktemp("site")
    # NO_MKDOCS_2_WARNING: Material's banner about MkDocs 2, printed on every build.
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(directory)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert result.returncode == 0, result.stdout + result.stderr
    return directory


def test_the_site_builds_in_strict_mode_and_loads_nothing_from_other_sites(site):
    pages = list(site.rglob("*.html"))
    assert len(pages) >= len(documentation.PAGES)
    for page in pages:
        html = page.read_text(encoding="utf-8")
        # Scripts, styles and fonts of the site are its own (Material's Google Fonts off).
        assert not re.search(r"""<(?:script|link)[^>]+(?:src|href)=["']?(?:https?:)?//""",
                             html), page
        assert "fonts.googleapis" not in html and "fonts.gstatic" not in html, page


def test_the_api_reference_is_rendered_from_the_services_openapi_document(site):
    document = openapi.document()
    reference = (site / "api" / "reference.html").read_text(encoding="utf-8")
    for path, item in document["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in reference, (method, path)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name.lower()}"' in reference, name
    written = json.loads((site / "api" / "openapi.json").read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(document))


def test_the_handbook_and_datenschutz_are_in_the_navigation(site):
    assert (site / "handbuch" / "index.html").exists()
    assert (site / "datenschutz" / "index.html").exists()
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Handbuch für die Pressestelle" in home and "Datenschutz" in home


def _commands(group, ctx, words=()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, click.Group):
            yield from _commands(command, ctx, (*words, name))
        else:
            yield (*words, name)


def test_every_operator_command_is_documented(app):
    commands = list(_commands(app.cli, click.Context(app.cli)))
    assert ("keys", "new") in commands
    missing = [" ".join(words) for words in commands
               if f"scripts/flask {' '.join(words)}" not in EVERYTHING]
    assert not missing, f"not in README.md or docs/: scripts/flask {missing}"


def test_every_script_is_documented():
    missing = [path.name for path in (ROOT / "scripts").iterdir()
               if f"scripts/{path.name}" not in EVERYTHING]
    assert not missing


def _documented(rule):
    for converter, word in DOCUMENTED_AS.items():
        rule = rule.replace(converter, word)
    return rule


def test_every_console_page_is_in_the_console_guide(app):
    console = documentation.page(documentation.CONSOLE)
    pages = {_documented(rule.rule) for rule in app.url_map.iter_rules()
             if rule.rule.startswith("/admin") and "GET" in rule.methods}
    assert "/admin/compose" in pages
    missing = sorted(page for page in pages if f"`{page.rstrip('/')}" not in console)
    assert not missing, f"not in docs/{documentation.CONSOLE}: {missing}"


def test_every_path_outside_the_api_is_documented(app):
    """The API's paths are in the reference, rendered from the OpenAPI document (above);
    the others (public pages, webhooks, health, metrics) in the guide."""
    paths = {_documented(rule.rule) for rule in app.url_map.iter_rules()
             if not rule.rule.startswith(("/api", "/admin", "/static"))}
    assert "/twilio/messages" in paths
    missing = sorted(path for path in paths if f"`{path}" not in EVERYTHING
                     and f" {path}`" not in EVERYTHING)
    assert not missing


def test_every_api_path_has_its_route_and_its_page():
    """The reference lists the document's paths; the document lists the app's routes
    (tests/test_openapi.py). Here: the guide sends the reader to both."""
    api = documentation.page("api/index.md")
    assert "(reference.md)" in api and "`GET /api/docs`" in api


def test_every_start_up_error_message_is_in_troubleshooting():
    """The literal words of each message (between the values it fills in) are on the page,
    so that an operator who searches for the line they read finds what to do."""
    page = documentation.page(documentation.TROUBLESHOOTING)
    messages = documentation.start_error_messages()
    assert len(messages) > 40
    missing = [(where, fragment.strip()) for where, fragments in messages
               for fragment in fragments
               if len(fragment.strip()) >= 10 and fragment.strip() not in page]
    assert not missing, missing


def test_the_readme_is_the_front_door():
    readme = documentation.README
    assert len(readme.splitlines()) <= 200
    for heading in ("## The commands", "## Try it", "## Features", "## Where to go next",
                    "## Headline figures", "## License"):
        assert heading + "\n" in readme
    # Every link into docs/ names a page that exists.
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target
