"""Security headers on every response; JSON, never an HTML traceback, for API failures."""

import logging

import pytest

from bot.logs import AccessFormatter, MaskingFormatter
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def assert_security_headers(response, https=True):
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert ("Strict-Transport-Security" in response.headers) == https


@pytest.mark.parametrize("method, path, headers", [
    ("GET", "/healthz", {}),
    ("GET", "/api/stats", AUTH),
    ("GET", "/api/stats", {}),
    ("GET", "/nowhere", {}),
    ("GET", "/api/nowhere", AUTH),
    ("DELETE", "/api/stats", AUTH),
])
def test_every_response_has_the_security_headers(client, method, path, headers):
    assert_security_headers(client.open(path, method=method, headers=headers))


def test_the_webhook_answer_has_them_too(citizen):
    assert_security_headers(citizen().send("Start"))


def test_no_hsts_without_https(config):
    from bot import create_app

    app = create_app(dict(config, PUBLIC_URL="http://127.0.0.1:8000"))
    assert_security_headers(app.test_client().get("/healthz"), https=False)


@pytest.mark.parametrize("method, path", [("GET", "/api/nowhere"), ("DELETE", "/api/stats"),
                                          ("GET", "/twilio/messages")])
def test_api_errors_are_json(client, method, path):
    response = client.open(path, method=method, headers=AUTH)
    assert response.status_code in (404, 405)
    assert response.is_json and response.json["error"]


@pytest.mark.parametrize("method, path", [
    ("GET", "/api"), ("POST", "/api"), ("GET", "/api/"), ("GET", "/api/unknown"),
    ("GET", "/api/unknown/deeper"), ("GET", "/api?x=1"), ("GET", "/twilio"),
])
def test_every_path_under_api_answers_json(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 404
    assert response.is_json and response.json["error"]
    assert_security_headers(response)


def test_pages_outside_the_api_keep_html_errors(client):
    for path in ("/apix", "/api-docs", "/nowhere"):
        response = client.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html"


def test_an_unexpected_failure_under_api_is_json_without_traceback(config):
    from bot import create_app

    app = create_app(config)

    @app.get("/api/explode")
    def explode():
        raise RuntimeError("secret detail for +4915112345678")

    response = app.test_client().get("/api/explode")
    assert response.status_code == 500
    assert response.is_json and response.json == {"error": "internal server error"}
    assert "secret detail" not in response.get_data(as_text=True)
    assert_security_headers(response)


def test_an_unexpected_failure_elsewhere_is_a_plain_page(config):
    from bot import create_app

    app = create_app(config)

    @app.get("/explode")
    def explode():
        raise RuntimeError("secret detail")

    response = app.test_client().get("/explode")
    assert response.status_code == 500 and "secret detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def record(message, exc_info=None):
    return logging.LogRecord("test", logging.ERROR, __file__, 1, message, None, exc_info)


def test_tracebacks_are_masked():
    try:
        raise ValueError("could not send to +4915112345678")
    except ValueError:
        import sys

        line = MaskingFormatter("%(message)s").format(record("failed", sys.exc_info()))
    assert "Traceback" in line and "4915112345678" not in line and "+49151•••5678" in line


@pytest.mark.parametrize("request_line, hidden", [
    ("GET /x?to=%2B4915112345678 HTTP/1.1", "4915112345678"),
    ("GET /x?to=+4915112345678 HTTP/1.1", "4915112345678"),
    ("GET /x?to=0151+12345678 HTTP/1.1", "12345678"),
    ("GET /x?to=0151%2012345678 HTTP/1.1", "12345678"),
    ("GET /4915112345678 HTTP/1.1", "4915112345678"),
    ("GET /x?token=abc123def&api_key=zzz HTTP/1.1", "abc123def"),
    ("GET /x?api_key=zzz HTTP/1.1", "zzz"),
])
def test_access_lines_mask_numbers_and_secrets(request_line, hidden):
    line = AccessFormatter("%(message)s").format(record(request_line))
    assert hidden not in line


def test_access_lines_cannot_forge_log_lines():
    line = AccessFormatter("%(message)s").format(record("GET /x?a=%0AFAKE%20LINE HTTP/1.1"))
    assert "\n" not in line and "\\x0a" in line


# --- caches and OPTIONS ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/admin", "/admin/", "/admin/compose", "/admin/audience",
                                  "/admin/broadcasts/1", "/admin/broadcasts/99",
                                  "/admin/counts.json?ids=1", "/admin/broadcasts/1/counts.json"])
def test_console_pages_are_never_stored_by_a_cache(app, console, path):
    from tests.conftest import broadcast

    broadcast(app)
    response = console.client.get(path)
    assert response.status_code in (200, 404)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_sign_in_page_and_its_answers_are_never_stored(client, officer):
    from tests.conftest import Console

    assert client.get("/admin/login").headers["Cache-Control"] == "no-store"
    assert Console(client).sign_in().headers["Cache-Control"] == "no-store"
    assert client.get("/admin/compose").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method, path, headers, status", [
    ("GET", "/api/stats", AUTH, 200),
    ("GET", "/api/broadcasts", AUTH, 200),
    ("GET", "/api/broadcasts/99", AUTH, 404),
    ("POST", "/api/broadcasts", AUTH, 400),
    ("GET", "/api/stats", {}, 401),
    ("GET", "/api/nowhere", AUTH, 404),
])
def test_api_answers_are_never_stored_by_a_cache(client, method, path, headers, status):
    response = client.open(path, method=method, headers=headers)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"


def test_public_pages_may_be_cached(client):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")


@pytest.mark.parametrize("path", ["/api/stats", "/api/broadcasts", "/api/broadcasts/1",
                                  "/api/broadcasts/1/cancel"])
def test_options_under_api_needs_the_token(client, path):
    refused = client.open(path, method="OPTIONS")
    assert refused.status_code == 401 and refused.is_json
    assert "Allow" not in refused.headers
    wrong = client.open(path, method="OPTIONS", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    allowed = client.open(path, method="OPTIONS", headers=AUTH)
    assert allowed.status_code == 200 and "OPTIONS" in allowed.headers["Allow"]
