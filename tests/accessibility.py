"""axe-core (from npm, pinned in package-lock.json) run on a page in the browser tests.

``check(page)`` runs it on what the page shows now and fails the test on any violation, naming
the rule, the elements and the fix axe suggests. ``CHECKED`` collects the console and public
routes it ran on, so that a test can ask whether every page of the suite was checked.
"""

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA, as a public authority's site must meet them (BITV 2.0 / EN 301 549), and
# axe's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
CHECKED = set()


def axe_source():
    if not AXE.exists():
        message = "axe-core is not installed (npm ci; scripts/test does)"
        if os.environ.get("CI") or os.environ.get("INFOKANAL_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def route_of(path):
    """A URL path as the route it belongs to: numbers become <id>, so /admin/broadcasts/7 and
    /admin/broadcasts/8 are one page."""
    return re.sub(r"/\d+(?=/|$)", "/<id>", path.rstrip("/") or "/")


def check(page, label=""):
    """Run axe on the page as it is now; fail on any violation."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the browser's debugging protocol, which the page's
        # Content-Security-Policy (no inline script) does not govern.
        page.evaluate(axe_source())
    result = page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: "
        "tags}, resultTypes: ['violations']}); return r.violations.map(v => ({id: v.id, "
        "impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => "
        "({target: n.target, summary: n.failureSummary}))})); }", TAGS)
    CHECKED.add(route_of(urlsplit(page.url).path))
    assert result == [], f"axe found problems on {page.url} {label}:\n" + json.dumps(
        result, ensure_ascii=False, indent=2)
