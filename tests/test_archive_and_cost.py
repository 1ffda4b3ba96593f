"""What goes on the public page and feed (``public``, and removal later), and what broadcasts
cost (``PRICE_PER_MESSAGE``): in the API, on the confirmation, on the audience page."""

import re
from decimal import Decimal

import pytest

from bot import create_app
from bot.config import ConfigError
from bot.domain import costs
from bot.web import labels
from tests.conftest import ADMIN_TOKEN, OFFICER, OFFICER_PASSWORD, Console, rows

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def run_worker(app):
    with app.app_context():
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0


def test_a_broadcast_sent_with_public_false_stays_off_the_page_and_the_feed(app, client,
                                                                             citizen):
    citizen().send("Start")
    quiet = client.post("/api/broadcasts", json={"text": "Nur für Abonnenten", "public": False},
                        headers=AUTH)
    loud = client.post("/api/broadcasts", json={"text": "Für alle"}, headers=AUTH)
    assert quiet.json["public"] is False and loud.json["public"] is True
    run_worker(app)
    page, feed = client.get("/").get_data(as_text=True), client.get("/feed.xml").data.decode()
    assert "Für alle" in page and "Für alle" in feed
    assert "Nur für Abonnenten" not in page and "Nur für Abonnenten" not in feed
    shown = client.get(f"/api/broadcasts/{quiet.json['id']}", headers=AUTH).json
    assert shown["public"] is False and shown["status"] == "done"


def test_public_must_be_true_or_false(client):
    response = client.post("/api/broadcasts", json={"text": "x", "public": "nein"}, headers=AUTH)
    assert response.status_code == 400 and "public" in response.json["error"]


def test_a_publisher_removes_a_sent_broadcast_from_the_archive_and_it_is_audited(
        app, client, console, citizen):
    citizen().send("Start")
    broadcast_id = client.post("/api/broadcasts", json={"text": "Veraltete Meldung"},
                               headers=AUTH).json["id"]
    run_worker(app)
    assert "Veraltete Meldung" in client.get("/").get_data(as_text=True)
    page = f"/admin/broadcasts/{broadcast_id}"
    assert 'id="unpublish"' in console.client.get(page).get_data(as_text=True)
    console.post(f"{page}/archive", {"public": "0"}, token_page=page)
    assert "Veraltete Meldung" not in client.get("/").get_data(as_text=True)
    assert "Veraltete Meldung" not in client.get("/feed.xml").data.decode()
    assert rows(app, "SELECT actor, action, target FROM audit_log WHERE action LIKE "
                     "'broadcast_archive%'") == [(OFFICER, "broadcast_archive_removed",
                                                   f"broadcast:{broadcast_id}")]
    console.post(f"{page}/archive", {"public": "1"}, token_page=page)
    assert "Veraltete Meldung" in client.get("/").get_data(as_text=True)


def test_the_confirmation_says_plainly_that_the_text_will_be_public_unless_unticked(console):
    page = console.post("/admin/compose", {"text": "Öffentlich?"}).get_data(as_text=True)
    assert re.search(r'id="public"[^>]*checked', page)
    assert "erscheint der Text nach dem Versand für alle lesbar auf der öffentlichen" in page
    unticked = console.post("/admin/compose", {"text": "Öffentlich?", "public_shown": "1"})
    assert not re.search(r'id="public"[^>]*checked', unticked.get_data(as_text=True))


@pytest.fixture
def priced(config):
    app = create_app(dict(config, PRICE_PER_MESSAGE="0.045"))
    app.test_cli_runner().invoke(args=["users", "add", OFFICER, "--password-stdin"],
                                 input=OFFICER_PASSWORD + "\n")
    return app


def test_broadcast_json_carries_the_estimated_cost(priced):
    from tests.conftest import citizens_of

    citizen = citizens_of(priced.test_client())
    for _ in range(3):
        citizen().send("Start")
    client = priced.test_client()
    created = client.post("/api/broadcasts", json={"text": "Kosten?"}, headers=AUTH).json
    assert created["estimated_cost"] == {"amount": 0.135, "currency": "EUR"}
    shown = client.get(f"/api/broadcasts/{created['id']}", headers=AUTH).json
    assert shown["estimated_cost"] == {"amount": 0.135, "currency": "EUR"}


def test_a_draft_is_priced_for_whom_it_would_reach_now(priced):
    from bot.store import broadcasts
    from bot.store.db import write
    from tests.conftest import citizens_of, database

    citizen = citizens_of(priced.test_client())
    for _ in range(2):
        citizen().send("Start")
    with write(database(priced)) as conn:
        draft = broadcasts.create(conn, "Glätte", created_by="nina", draft=True)[0]
    shown = priced.test_client().get(f"/api/broadcasts/{draft}", headers=AUTH).json
    assert (shown["recipients"], shown["estimated_cost"]) == (0, {"amount": 0.09,
                                                                  "currency": "EUR"})


def test_without_a_price_the_cost_is_null(client):
    created = client.post("/api/broadcasts", json={"text": "Kosten?"}, headers=AUTH).json
    assert created["estimated_cost"] is None


def test_the_confirmation_and_the_audience_page_show_the_cost(priced):
    from tests.conftest import citizens_of

    citizen = citizens_of(priced.test_client())
    for _ in range(2):
        citizen().send("Start")
    console = Console(priced.test_client())
    console.sign_in()
    page = console.post("/admin/compose", {"text": "Teuer?"}).get_data(as_text=True)
    assert "Kosten: ca. 0,09 € (Kategorie Marketing, 0,045 € je Nachricht)." in page
    priced.test_client().post("/api/broadcasts", json={"text": "Gesendet"}, headers=AUTH)
    run_worker(priced)
    # The month counts what the platform reported delivered (and the two answers, free).
    for (sid,) in rows(priced, "SELECT sid FROM deliveries"):
        citizen().post_signed("/twilio/status", {"MessageSid": sid, "MessageStatus": "delivered"})
    audience = console.client.get("/admin/audience").get_data(as_text=True)
    assert "In diesem Monat bisher: ca. 0,09 € für 4 Nachrichten" in audience


def test_the_cost_line_reads_as_german_money():
    assert labels.cost_line({"amount": 27.36, "currency": "EUR"}, 608) == \
        "ca. 27,36 € für 608 Nachrichten"
    assert labels.cost_line({"amount": 1234.5, "currency": "CHF"}, 1) == \
        "ca. 1.234,50 CHF für 1 Nachricht"
    assert labels.cost_line(None, 5) == ""


@pytest.mark.parametrize("value, price", [("0.0456", Decimal("0.0456")), ("0,05", Decimal("0.05")),
                                          ("", None)])
def test_price_per_message_takes_a_point_or_a_comma(config, value, price):
    assert create_app(dict(config, PRICE_PER_MESSAGE=value)).config["PRICE_PER_MESSAGE"] == price


@pytest.mark.parametrize("name, value", [("PRICE_PER_MESSAGE", "fünf Cent"),
                                         ("PRICE_PER_MESSAGE", "-1"), ("PRICE_CURRENCY", "Euro"),
                                         ("CURRENCY", "€"), ("PRICE_MARKETING", "0.1.1"),
                                         ("PRICE_UTILITY", "101"), ("PLATFORM_FEE", "-0.005"),
                                         ("PRICE_SERVICE", "gratis"), ("MONTHLY_BUDGET", "viel"),
                                         ("TEMPLATE_CATEGORY", "authentication"),
                                         ("SEND_RATE_LIMIT_MEDIA", "-80")])
def test_a_price_that_cannot_be_meant_stops_the_start(config, name, value):
    with pytest.raises(ConfigError, match=name):
        create_app(dict(config, **{name: value}))


def test_each_category_has_its_price_and_the_single_price_fills_the_gaps(config):
    settings = create_app(dict(config, PRICE_PER_MESSAGE="0.04", PRICE_UTILITY="0,0456",
                               PLATFORM_FEE="0.0043", TEMPLATE_CATEGORY="Utility")).config
    assert settings["PRICES"] == {"marketing": Decimal("0.04"), "utility": Decimal("0.0456"),
                                  "service": Decimal("0")}
    assert settings["TEMPLATE_CATEGORY"] == "utility"
    assert costs.per_message(settings) == Decimal("0.0499")
    assert costs.estimate(1000, settings, "marketing") == {"amount": 44.3, "currency": "EUR"}


def test_a_language_has_the_main_category_unless_it_names_its_own(config):
    settings = create_app(dict(config, LANGUAGES="de,en", CURRENCY="chf",
                               PRICE_CURRENCY="USD")).config
    assert settings["TEMPLATE_CATEGORIES"] == {None: "marketing", "de": "marketing",
                                               "en": "marketing"}
    settings = create_app(dict(config, LANGUAGES="de,en", TEMPLATE_CATEGORY="utility",
                               TEMPLATE_CATEGORY_EN="marketing", CURRENCY="chf")).config
    assert settings["TEMPLATE_CATEGORIES"] == {None: "utility", "de": "utility",
                                               "en": "marketing"}
    assert settings["CURRENCY"] == settings["PRICE_CURRENCY"] == "CHF"
    assert settings["SEND_RATE_LIMIT_MEDIA"] == settings["SEND_RATE_LIMIT"]


def test_a_bad_category_of_one_language_names_its_setting(config):
    with pytest.raises(ConfigError, match="TEMPLATE_CATEGORY_EN"):
        create_app(dict(config, LANGUAGES="de,en", TEMPLATE_CATEGORY_EN="transactional"))
