"""No input gives a 500: what JSON, a sign-in's ``next`` or a request line can carry that Python
or a header cannot, is answered 400 with a plain reason (or, in the console, a safe default)."""

import http.client
import sqlite3

import pytest

from tests.conftest import ADMIN_TOKEN, OFFICER, OFFICER_PASSWORD, Console

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def stored_broadcasts(app):
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        return conn.execute("SELECT count(*) FROM broadcasts").fetchone()[0]


# JSON spells a lone surrogate as an escape; Python decodes it into a str that UTF-8 (and so
# SQLite and the platform) cannot encode. Written raw, as a client would send it.
@pytest.mark.parametrize("body, field", [
    ('{"text": "a\\ud800b"}', "text"),
    ('{"text": "a\\udfffb"}', "text"),
    ('{"text": "Hochwasser", "media_url": "https://example.org/\\ud800.jpg"}', "media_url"),
])
def test_a_lone_surrogate_is_refused_with_a_reason(app, client, body, field):
    response = client.post("/api/broadcasts", data=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json["error"].startswith(f"{field} is not valid Unicode text")
    assert stored_broadcasts(app) == 0


@pytest.mark.parametrize("data, where", [
    ("a\ud800", "the body"), ({"text": "ok", "extra": ["x", "\udc00"]}, "extra[1]"),
    ({"translations": {"en": "\ud800"}}, "translations.en"), ({"\ud800": 1}, "a name"),
    ({"text": "ok", "deep": [[[[{"x": "\udfff"}]]]]}, "deep[0][0][0][0].x"),
])
def test_the_place_of_a_lone_surrogate_is_named(data, where):
    from bot.web.bodies import lone_surrogate

    assert lone_surrogate(data) == where


def test_json_without_surrogates_passes_whatever_it_holds():
    from bot.web.bodies import lone_surrogate

    assert lone_surrogate({"text": "Straße \U0001f6a8", "n": [1, 2.5, None, True, {}]}) is None


def test_a_surrogate_pair_is_a_character_and_goes_out(app, client):
    response = client.post("/api/broadcasts", data='{"text": "Achtung \\ud83d\\udea8"}',
                           headers=AUTH)
    assert response.status_code == 202
    assert client.get(f"/api/broadcasts/{response.json['id']}",
                      headers=AUTH).json["text"] == "Achtung \U0001f6a8"


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deeply_nested_json_is_refused_with_a_reason(app, client, depth):
    response = client.post("/api/broadcasts", data="[" * depth + "]" * depth, headers=AUTH)
    assert response.status_code == 400
    assert response.json == {"error": "the JSON is nested too deeply"}
    assert stored_broadcasts(app) == 0


@pytest.mark.parametrize("where", ["query", "form"])
@pytest.mark.parametrize("target", ["/admin/\r\nX", "/admin/\nSet-Cookie: a=b", "/admin\x00",
                                    "/admin/\x7f", "/admin/\u2028x"])
def test_an_unusable_next_after_sign_in_goes_to_the_list(client, officer, where, target):
    form = {"csrf_token": Console(client).token(), "name": OFFICER,
            "password": OFFICER_PASSWORD}
    if where == "query":
        response = client.post("/admin/login", query_string={"next": target}, data=form)
    else:
        response = client.post("/admin/login", data=dict(form, next=target))
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin"
    assert client.get("/admin").status_code == 200  # signed in all the same


def test_a_double_slash_path_redirects_without_the_host_header(client):
    # The test client would read "//admin" as a host name: the path goes in as the server
    # gets it.
    response = client.get("/", environ_overrides={"PATH_INFO": "//admin//compose"},
                          headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert response.headers["Location"] == "/admin/compose"


def test_the_served_app_never_puts_the_host_header_into_a_redirect(env, start_web):
    web = start_web(env)
    for path, location in [("//admin//compose", "/admin/compose"),
                           ("//admin//broadcasts//7?x=1", "/admin/broadcasts/7?x=1"),
                           ("/admin//audience", "/admin/audience")]:
        connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": "evil.example"})
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        assert (response.status, response.getheader("Location")) == (308, location), path


# What a form body may hold: the separators, escapes whole, cut short or invalid, pluses,
# letters beyond ASCII.
FORM_TEXT = "&=%+ab2FZ3Dä€\U0001f600"


def test_a_status_callbacks_form_is_read_as_parse_qsl_reads_it():
    from urllib.parse import parse_qsl

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from bot.web.front import form_pairs

    @settings(max_examples=2000, deadline=None)
    @given(st.text(alphabet=FORM_TEXT, max_size=40) | st.text(max_size=40))
    def same(text):
        assert form_pairs(text) == parse_qsl(text, keep_blank_values=True)

    same()
    assert form_pairs("To=whatsapp%3A%2B49151&Body=a+b%20c&&Empty=&Alone") == [
        ("To", "whatsapp:+49151"), ("Body", "a b c"), ("Empty", ""), ("Alone", "")]


# urlparse raises on these rather than answering a URL without a host.
@pytest.mark.parametrize("media_url", ["http://[::1", "https://[fe80::1/bild.jpg",
                                       "https://ex\uff03ample.org/bild.jpg"])
def test_an_unreadable_picture_address_is_refused_with_a_reason(app, client, console,
                                                                media_url):
    response = client.post("/api/broadcasts", json={"text": "x", "media_url": media_url},
                           headers=AUTH)
    assert response.status_code == 400
    assert response.json["error"].startswith("media_url is not a valid URL")
    page = console.post("/admin/compose", {"text": "x", "media_url": media_url})
    assert page.status_code == 400
    assert "Die Bild-Adresse ist keine gültige Internet-Adresse." in page.get_data(as_text=True)
    assert stored_broadcasts(app) == 0
