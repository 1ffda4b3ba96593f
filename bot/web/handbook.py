"""The press office's handbook, served by the service itself under ``/hilfe/``, and the link
from each console page to its section.

The handbook is ``docs/handbuch/index.md`` of this checkout, rendered here with the same
Markdown extensions as the documentation site. Served from here, it is always the version that
describes the console that is running, reachable from a county network that cannot reach the
project's site, and needs no build step on the server. It is public like the rest of the
documentation: it explains how to sign in to whoever cannot yet.

``SECTIONS`` says which section belongs to which console page (a form's answer is a page too);
a test checks that every console page has one and that each exists in the Markdown.
"""

from functools import lru_cache
from pathlib import Path

import markdown
from flask import Blueprint, abort, render_template, request, send_from_directory, url_for
from markupsafe import Markup

bp = Blueprint("handbook", __name__, url_prefix="/hilfe")

FOLDER = Path(__file__).resolve().parent.parent.parent / "docs" / "handbuch"
PAGE = "index.md"
PICTURES = "bilder"
# As the documentation site's mkdocs.yml: ``{#id}`` gives a heading the anchor we link to.
EXTENSIONS = ["attr_list", "tables", "toc"]

# Console page (endpoint) → its section of the handbook (the heading's ``{#id}``).
SECTIONS = {
    "auth.login": "anmelden",
    "console.index": "meldungen",
    "console.compose": "schreiben",
    "console.compose_post": "plan",
    "console.detail": "meldung",
    "console.draft": "entwurf",
    "console.discard": "entwurf",
    "console.test_send": "probeversand",
    "console.approve": "freigabe",
    "console.reject": "freigabe",
    "console.edit_scheduled": "planen",
    "console.cancel": "stoerungen",
    "console.archive": "zahlen",
    "console.correct": "berichtigung",
    "console.close_poll": "umfrage",
    "console.audience_page": "reichweite",
    "console.costs_page": "kosten",
    "console.accounts_page": "konten",
    "console.add_account": "konten",
    "console.change_role": "konten",
    "console.remove_account": "konten",
    "console.audit_page": "protokoll",
    "console.audit_verify": "protokoll",
    "console.password_page": "passwort",
    "console.change_password": "passwort",
    "simulator.page": "simulator",
    "simulator.send": "simulator",
    "simulator.new_citizen": "simulator",
    "simulator.tap": "simulator",
}
# What a page without a section of its own links to: the start of the handbook.
START = "inhalt"


@lru_cache(maxsize=1)
def _rendered(path, modified):
    """The handbook as HTML, rendered again only when the file changes (``modified``)."""
    text = Path(path).read_text(encoding="utf-8")
    return Markup(markdown.markdown(text, extensions=EXTENSIONS, output_format="html"))


def rendered():
    path = FOLDER / PAGE
    return _rendered(str(path), path.stat().st_mtime_ns)


def section(endpoint):
    """The anchor of the handbook section for the console page ``endpoint``."""
    return SECTIONS.get(endpoint, START)


@bp.app_context_processor
def help_link():
    return {"help_url": url_for("handbook.page", _anchor=section(request.endpoint))}


@bp.get("/")
def page():
    if not (FOLDER / PAGE).is_file():
        abort(404)
    return render_template("handbook.html", body=rendered())


@bp.get(f"/{PICTURES}/<name>")
def picture(name):
    if not name.endswith(".png"):
        abort(404)
    return send_from_directory(FOLDER / PICTURES, name, mimetype="image/png")
