"""``GET /api/docs`` in Debian's Chromium, against the Procfile's web process: Swagger UI shows
every path of the service's OpenAPI document under the site's own Content-Security-Policy (no
inline script or style allowed, nothing from other sites), "Try it out" calls the API with the
token typed in, and axe-core finds nothing to fix. The page's two Swagger UI files are the npm
package's, at the pinned version.
"""

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from bot.web import openapi
from tests.accessibility import check
from tests.conftest import ADMIN_TOKEN, ROOT
from tests.test_browser import browser  # noqa: F401 - the module's browser

SERVED = ROOT / "bot" / "web" / "static" / "swagger-ui"
PACKAGE = ROOT / "node_modules" / "swagger-ui-dist"


@pytest.fixture
def docs_page(browser, env, start_web):  # noqa: F811 - the imported fixture
    web = start_web(env)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.refused = []  # what the Content-Security-Policy refused
    page.elsewhere = []  # requests to any other site
    page.on("console", lambda message: "Content Security Policy" in message.text
            and page.refused.append(message.text))
    page.on("request", lambda request: urlsplit(request.url).netloc != urlsplit(web.url).netloc
            and urlsplit(request.url).scheme in ("http", "https")
            and page.elsewhere.append(request.url))
    page.goto(web.url + "/api/docs")
    yield page
    context.close()


def test_the_api_page_shows_every_path_and_tries_one_out_with_the_token(docs_page):
    page = docs_page
    expect(page.locator(".opblock").first).to_be_visible()
    shown = {(element.get_attribute("data-path"), method) for method in
             ("get", "post", "patch") for element in
             page.locator(f".opblock-{method} .opblock-summary-path").all()}
    document = openapi.document()
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert described <= shown
    assert page.refused == [] and page.elsewhere == []
    check(page, "(Swagger UI)")

    # "Try it out", with the token typed into "Authorize".
    page.get_by_role("button", name="Authorize").first.click()
    page.locator(".auth-container input").fill(ADMIN_TOKEN)
    page.locator(".auth-container button[type=submit]").click()
    page.locator(".auth-btn-wrapper button.btn-done").click()
    stats = page.locator("#operations-default-getStats")
    stats.locator(".opblock-summary").click()
    stats.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda response: response.url.endswith("/api/stats")) as answer:
        stats.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200
    assert "subscribers" in answer.value.json()
    expect(stats.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    assert page.refused == [] and page.elsewhere == []
    check(page, "(Swagger UI, an answer shown)")


def test_the_served_swagger_ui_is_the_pinned_npm_package():
    """Copies, so that a server needs no npm; the same bytes as the package npm ci installs
    from package-lock.json (its integrity checked there)."""
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["swagger-ui-dist"]
    if not PACKAGE.exists():
        pytest.fail("swagger-ui-dist is not installed (npm ci; scripts/test does)")
    assert json.loads((PACKAGE / "package.json").read_text())["version"] == pinned
    for name in ("swagger-ui-bundle.js", "swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css",
                 "LICENSE", "NOTICE"):
        assert (SERVED / name).read_bytes() == (PACKAGE / name).read_bytes(), name
    assert {path.name for path in Path(SERVED).iterdir()} == {
        "swagger-ui-bundle.js", "swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css", "LICENSE",
        "NOTICE"}
