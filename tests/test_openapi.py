"""GET /api/openapi.json describes the API as it is: a valid OpenAPI 3.1 document, of exactly
the app's /api routes, and every answer of the real server is one it documents."""

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from bot.vault import new_key
from tests.conftest import ADMIN_TOKEN, PUBLIC_URL, WebServer
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Examples per endpoint, valid and invalid (schemathesis's coverage phase adds its edge cases):
# about 15 s for the whole API on the 2-core machine.
EXAMPLES = 100


def test_the_document_is_valid_openapi_3_1_and_needs_no_token(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.is_json
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def routes(app):
    """(path in OpenAPI's form, method) of every route under /api."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule == "/api" or rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            found.update((path, method.lower()) for method in rule.methods
                         if method not in ("HEAD", "OPTIONS"))
    return found


def test_the_document_describes_exactly_the_apps_api_routes(app, client):
    document = client.get("/api/openapi.json").get_json()
    described = {(path, method) for path, item in document["paths"].items()
                 for method in item if method != "parameters"}
    assert described == routes(app)


def test_every_protected_endpoint_documents_the_bearer_token_and_its_401(client):
    document = client.get("/api/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN."}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if operation.get("security") == []:
                continue
            assert "401" in operation["responses"], (method, path)
            response = client.open(path.replace("{broadcast_id}", "1"), method=method)
            assert response.status_code == 401 and set(response.get_json()) == {"error"}


# --- the real server, fuzzed -----------------------------------------------------------------

@pytest.fixture(scope="module")
def api_server(tmp_path_factory, fake_twilio):
    """The Procfile's web process in production mode, with subscribers and broadcasts to find."""
    directory = tmp_path_factory.mktemp("schemathesis")
    server = WebServer({
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+4930901820", "TWILIO_API_URL": fake_twilio.url,
        "PUBLIC_URL": PUBLIC_URL, "ADMIN_TOKEN": ADMIN_TOKEN, "DATA_KEY": new_key(),
        "DATABASE_PATH": str(directory / "infokanal.db"), "WEB_CONCURRENCY": "2"})
    try:
        for _ in range(3):
            assert "Willkommen" in server.citizen().send("Start").text
        for text in ("Probealarm", "Straßensperrung", "Stellenangebot"):
            answer = server.api("POST", "/api/broadcasts", json={"text": text})
            assert answer.status_code == 202
        server.api("POST", "/api/broadcasts/2/cancel")
        yield server
    finally:
        server.stop()


@pytest.fixture
def api_schema(api_server):
    return schemathesis.openapi.from_url(api_server.url + "/api/openapi.json", timeout=10)


lazy_schema = schemathesis.pytest.from_fixture("api_schema")


@lazy_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_of_the_real_server_is_as_documented(case, api_server):
    case.call_and_validate(
        base_url=api_server.url, headers=AUTH, timeout=10,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance])


def test_the_interactive_page_needs_no_token_and_keeps_the_strict_policy(client):
    """GET /api/docs: public like the document it shows, under the site's policy (no inline
    script or style), with every file it loads served by this site."""
    from bot.web.security import CONTENT_SECURITY_POLICY

    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    html = page.get_data(as_text=True)
    assert 'data-document="/api/openapi.json"' in html and "<script>" not in html
    loaded = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert {"/static/swagger-ui/swagger-ui-bundle.js", "/static/swagger-ui/swagger-ui.css",
            "/static/api-docs.js"} <= set(loaded)
    for path in loaded:
        assert client.get(path).status_code == 200, path
