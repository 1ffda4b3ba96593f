"""The month's spending and the monthly budget: what was delivered, by the category of the
template it went with, and answers to citizens, priced; through signed webhooks, the worker
against the fake Twilio, and a real database."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bot import create_app
from bot.domain import costs
from tests.conftest import ADMIN_TOKEN, citizens_of, database, rows

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PRICES = {"LANGUAGES": "de,en", "TEMPLATE_CATEGORY_EN": "utility", "PRICE_MARKETING": "0.1",
          "PRICE_UTILITY": "0.04", "PRICE_SERVICE": "0.01", "PLATFORM_FEE": "0.005"}


@pytest.fixture
def app(config):
    return create_app(dict(config, **PRICES))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def citizen(client):
    return citizens_of(client)


def run_worker(app):
    with app.app_context():
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0


def spent(app, settings=None, now=None):
    return costs.month_spent(database(app).conn, settings or app.config, now=now)


def report(person, app, broadcast_id, *statuses):
    """The platform reports statuses of the message a citizen got, signed as Twilio signs."""
    vault = app.extensions["infokanal"].vault
    (sid,) = rows(app, "SELECT d.sid FROM deliveries d JOIN subscribers s "
                       "ON s.id = d.subscriber_id WHERE s.phone_hash = ? AND d.broadcast_id = ?",
                  vault.hash(person.number), broadcast_id)[0]
    for status in statuses:
        assert person.post_signed("/twilio/status", {"MessageSid": sid,
                                                     "MessageStatus": status}).status_code == 200


def test_the_month_is_what_was_delivered_by_its_category_and_the_answers(app, client,
                                                                          citizen):
    erika, max_, sam = citizen(), citizen(), citizen()
    for person in (erika, max_, sam):
        person.send("Start")
    sam.send("English")  # four answers so far, in the webhook's TwiML
    assert spent(app) == 4 * Decimal("0.015")
    broadcast_id = client.post("/api/broadcasts", json={"text": "Probealarm"},
                               headers=AUTH).json["id"]
    run_worker(app)
    report(erika, app, broadcast_id, "sent", "delivered", "read")  # delivered once
    report(sam, app, broadcast_id, "delivered")  # an English template: utility
    report(max_, app, broadcast_id, "sent")  # accepted, never reported delivered: not charged
    expected = Decimal("0.105") + Decimal("0.045") + 4 * Decimal("0.015")
    assert spent(app) == expected
    # The categories stay those the messages went with, whatever the configuration says now.
    changed = dict(app.config, TEMPLATE_CATEGORY="utility",
                   TEMPLATE_CATEGORIES={None: "utility", "de": "utility", "en": "utility"})
    assert spent(app, changed) == expected
    # The month is the local one: the next one has nothing yet, this one at its last hour all.
    now = datetime.now(timezone.utc)
    assert spent(app, now=now + timedelta(days=32)) == 0
    assert rows(app, "SELECT category, sum(n) FROM message_usage GROUP BY category") == [
        ("marketing", 1), ("service", 4), ("utility", 1)]


def test_a_category_without_a_price_counts_nothing(app, client, citizen):
    erika = citizen()
    erika.send("Start")
    broadcast_id = client.post("/api/broadcasts", json={"text": "Probealarm"},
                               headers=AUTH).json["id"]
    run_worker(app)
    report(erika, app, broadcast_id, "delivered")
    unpriced = dict(app.config, PRICES=dict(app.config["PRICES"], marketing=None))
    assert spent(app, unpriced) == Decimal("0.015")
