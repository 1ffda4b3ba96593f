"""A broadcast's plan against what then happens, end to end: the Procfile's web process
(gunicorn) and worker, a real SQLite file, the real twilio client and the fake Twilio API, which
holds WhatsApp's messaging limit strictly and keeps its own record of what it took and delivered.

For configured rates, prices, limits and budgets: the time to the last message is the plan's
``seconds_to_last`` (within 10 %); ``reachable_now`` is exactly the number the fake lets through
under a messaging limit; the month's estimate is exactly what the fake delivered × the prices;
a broadcast over the budget goes through the API with the warning, and an urgent one goes and
the audit trail says it went over.

Two deployments, each with a fake of its own that nothing resets, so that the fake's record and
the database's tell of the same messages: ``paced`` for the time (nothing else runs beside it),
``county`` for reach, money and the budget, its tests in the order they are written.
Subscribers are made through the same storage code the webhook uses (thousands of signed
webhooks would take most of the time); the citizens who write to us do it with signed webhooks.
"""

import json
import signal
import sqlite3
import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot import vault
from bot.store import db, subscribers
from tests.conftest import (ADMIN_TOKEN, COUNTY_NUMBER, PROCESS_AUTHORITY, Process, WebServer,
                            audit_trail_broken, counts_disagreeing, free_port, reply_text,
                            wait_for)
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

# A bound on every test here, its share of the processes' start included.
TEST_SECONDS = 90
GERMAN, ENGLISH = "HX" + "d" * 32, "HX" + "e" * 32      # each language's approved template
PRICES = {"marketing": Decimal("0.1131"), "utility": Decimal("0.0456"),
          "service": Decimal("0.0100")}
FEE = Decimal("0.0043")
CATEGORY = {GERMAN: "marketing", ENGLISH: "utility"}   # TEMPLATE_CATEGORY, TEMPLATE_CATEGORY_EN
LIMIT = 1000          # WhatsApp's messaging limit, the fake's and MESSAGING_LIMIT_24H
BUDGET = Decimal("100")


def settings(tmp_path, fake, **extra):
    """The Procfile processes' environment: template mode, German and English, and the web
    process's own address as PUBLIC_URL, so that the fake's status callbacks reach it."""
    from bot.vault import new_key

    port = free_port()
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": COUNTY_NUMBER, "TWILIO_API_URL": fake.url,
        "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ADMIN_TOKEN": ADMIN_TOKEN, "DATA_KEY": new_key(),
        "DATABASE_PATH": str(tmp_path / "infokanal.db"),
        "AUTHORITY_NAME": PROCESS_AUTHORITY, "CONTACT_INFO": "Bürgertelefon 0800 123 456",
        "SENDER_POLL_SECONDS": "0.05", "LANGUAGES": "de,en",
        "BROADCAST_CONTENT_SID": GERMAN, "BROADCAST_CONTENT_SID_EN": ENGLISH,
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def seed(env, people):
    """Subscribe ``people`` [(number, language or None, [topics] or None for everything)]
    through the storage code the webhook uses, in this order (the sender's order too)."""
    fernet = vault.parse_data_key(env["DATA_KEY"])
    box = vault.Vault(fernet, db.init_db(env["DATABASE_PATH"], fernet))
    database = db.connect(env["DATABASE_PATH"])
    try:
        with db.write(database) as conn:
            for index, (number, language, topics) in enumerate(people):
                phone_hash = box.hash(number)
                first, *more = topics or [None]
                subscribers.subscribe(conn, phone_hash, box.encrypt(number), "Start",
                                      f"SMseed{index}", language=language, topic=first)
                for topic in more:
                    subscribers.widen(conn, subscribers.find(conn, phone_hash), phone_hash,
                                      "Start", f"SMseed{index}{topic}", topic=topic)
    finally:
        database.conn.close()


class Deployment:
    """The web process and the worker of one configuration, with the fake they send to."""

    def __init__(self, env, fake):
        self.env, self.fake = env, fake
        self.web = WebServer(env)
        self.worker = Process("worker", env)
        wait_for(lambda: "Sender running" in self.worker.output()
                 or self.worker.proc.poll() is not None, timeout=30, message="the worker")
        assert self.worker.proc.poll() is None, self.worker.output()

    def stop(self):
        self.worker.stop()
        self.web.stop()
        self.fake.stop()
        assert counts_disagreeing(self.env["DATABASE_PATH"]) == []
        assert audit_trail_broken(self.env["DATABASE_PATH"]) is None

    def api(self, method, path, **kwargs):
        return self.web.api(method, path, **kwargs)

    def plan(self, **payload):
        response = self.api("POST", "/api/broadcasts/plan", json=payload)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, **payload):
        response = self.api("POST", "/api/broadcasts", json=payload)
        assert response.status_code == 202, response.text
        return dict(response.json(), text=payload["text"])  # the answer names no text

    def get(self, broadcast_id):
        return self.api("GET", f"/api/broadcasts/{broadcast_id}").json()

    def wait_status(self, broadcast_id, *statuses, timeout=40):
        return wait_for(lambda: (b := self.get(broadcast_id))["status"] in statuses and b,
                        timeout=timeout, interval=0.2,
                        message=f"broadcast {broadcast_id} {statuses}")

    def database(self):
        return sqlite3.connect(self.env["DATABASE_PATH"])

    def taken(self, broadcast):
        """The fake's messages of a broadcast (the API's answer), in any of its languages."""
        return [m for m in list(self.fake.messages) if of(m, broadcast)]

    def limited(self):
        return {sid for sid, _ in list(self.fake.limited)}

    def counted(self):
        """Broadcast messages the database has counted delivered (``message_usage``)."""
        with self.database() as conn:
            return conn.execute("SELECT coalesce(sum(n), 0) FROM message_usage "
                                "WHERE broadcast_id != 0").fetchone()[0]

    def delivered(self, broadcast=None):
        """The fake's record of the messages it reported delivered (of one broadcast)."""
        return [m for m in list(self.fake.delivered.values())
                if broadcast is None or of(m, broadcast)]


def of(message, broadcast):
    """Whether a message the fake took is one of this broadcast's (its template variable is the
    broadcast's text or one of its translations)."""
    texts = {broadcast["text"], *(broadcast.get("translations") or {}).values()}
    return json.loads(message.get("ContentVariables") or "{}").get("1") in texts


@pytest.fixture(autouse=True)
def bounded():
    """Every test ends within TEST_SECONDS, whatever hangs."""
    def overtime(signum, frame):
        raise TimeoutError(f"the test ran longer than {TEST_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, overtime)
    signal.alarm(TEST_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- time ----------------------------------------------------------------------------------------

PACED_RATE = 200
PACED_SUBSCRIBERS = 2000


@pytest.fixture(scope="module")
def paced(tmp_path_factory):
    """2,000 subscribers (a quarter of them English) and SEND_RATE_LIMIT=200; the fake reports
    no statuses, so that nothing but the sending takes the machine's time."""
    fake = FakeTwilio().start()
    env = settings(tmp_path_factory.mktemp("paced"), fake, SEND_RATE_LIMIT=PACED_RATE)
    seed(env, [(f"+49152{n:08d}", "en" if n % 4 == 0 else None, None)
               for n in range(PACED_SUBSCRIBERS)])
    deployment = Deployment(env, fake)
    yield deployment
    deployment.stop()


def test_the_last_citizen_has_it_when_the_plan_says(paced):
    sent_at = time.time()
    answer = paced.post(text="Probealarm der Sirenen am Samstag um 12 Uhr",
                        translations={"en": "Siren test on Saturday at noon"})
    plan = answer["plan"]
    assert plan["recipients"] == PACED_SUBSCRIBERS
    assert plan["by_language"] == {"de": 1500, "en": 500}
    done = paced.wait_status(answer["id"], "done", timeout=40)
    assert done["counts"]["failed"] == 0
    taken = list(paced.fake.messages)
    assert len(taken) == PACED_SUBSCRIBERS
    assert Counter(m["ContentSid"] for m in taken) == {GERMAN: 1500, ENGLISH: 500}
    measured = max(m["received_at"] for m in taken) - sent_at
    first = min(m["received_at"] for m in taken) - sent_at
    print(f"\nplan: {plan['seconds_to_last']} s to the last of {PACED_SUBSCRIBERS} at "
          f"{PACED_RATE}/s; measured: {measured:.2f} s (the first after {first:.2f} s)")
    assert abs(measured - plan["seconds_to_last"]) <= 0.1 * plan["seconds_to_last"], (
        measured, plan["seconds_to_last"])


# -- reach, money and the budget ------------------------------------------------------------------

# Who subscribed to what, in the sender's order: 200 to "rathaus" only, 400 to "rathaus" and
# "strassen", 1,100 to "strassen" only; every fourth one reads English.
EARLIER, OVERLAP, NEW = 200, 400, 1100


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """The messaging limit at 1,000 (the fake's and MESSAGING_LIMIT_24H), German templates
    marketing and English ones utility, prices, a fee and a monthly budget; the fake reports
    each message delivered. The sender pauses an hour at the limit (the default)."""
    fake = FakeTwilio().start()
    fake.messaging_limit = LIMIT
    fake.callbacks = ["sent", "delivered"]
    env = settings(tmp_path_factory.mktemp("county"), fake, SEND_RATE_LIMIT=400,
                   TOPICS="rathaus=Rathaus,strassen=Straßen und Verkehr",
                   MESSAGING_LIMIT_24H=LIMIT, TEMPLATE_CATEGORY="marketing",
                   TEMPLATE_CATEGORY_EN="utility", PRICE_MARKETING=PRICES["marketing"],
                   PRICE_UTILITY=PRICES["utility"], PRICE_SERVICE=PRICES["service"],
                   PLATFORM_FEE=FEE, MONTHLY_BUDGET=BUDGET)
    topics = [["rathaus"]] * EARLIER + [["rathaus", "strassen"]] * OVERLAP + [["strassen"]] * NEW
    people = [(f"+49153{n:08d}", "en" if n % 4 == 0 else None, chosen)
              for n, chosen in enumerate(topics)]
    seed(env, people)
    deployment = Deployment(env, fake)
    deployment.people = people
    deployment.replies = 0      # answers the citizens who wrote got (Twilio's, in the TwiML)
    yield deployment
    deployment.stop()


def write(county, number, text):
    """A citizen writes, in a webhook signed as Twilio signs it; counts the answer."""
    response = county.web.citizen(number).send(text)
    assert response.status_code == 200, response.text
    answer = reply_text(response.text)
    if answer is not None:
        county.replies += 1
    return answer


def test_reachable_now_is_exactly_what_the_platform_lets_through(county):
    earlier = "Rathaus heute ab 12 Uhr geschlossen"
    first = county.post(text=earlier, topics=["rathaus"],
                        translations={"en": "Town hall closed from noon today"})
    assert first["plan"]["reachable_now"] == EARLIER + OVERLAP
    county.wait_status(first["id"], "done")
    assert len(county.fake.reached_since()) == EARLIER + OVERLAP

    now = "B 74 zwischen Ritterhude und Osterholz gesperrt"
    body = {"text": now, "topics": ["strassen"], "translations": {"en": "B 74 closed"}}
    plan = county.plan(**body)
    # 600 reached today, 400 of them get this one too; 400 of the 1,100 new ones fit.
    assert (plan["recipients"], plan["reachable_now"]) == (OVERLAP + NEW,
                                                           OVERLAP + LIMIT - EARLIER - OVERLAP)
    assert plan["reachable_at"] is not None
    assert "not_reachable_today" in plan["warning_codes"]

    second = county.post(**body)
    assert second["plan"]["reachable_now"] == plan["reachable_now"]
    county.wait_status(second["id"], "paused")
    # What was in flight when the limit came back has been answered too.
    wait_for(lambda: all(m["sid"] in county.fake.delivered or m["sid"] in county.limited()
                         for m in county.taken(second)), timeout=20,
             message="every message in flight answered")
    through = {m["To"] for m in county.delivered(second)}
    assert len(through) == plan["reachable_now"]
    # And not one more could have gone: the fake's day is full, and everyone this broadcast has
    # not reached yet is someone the fake has not reached today.
    reached = county.fake.reached_since()
    assert len(reached) == LIMIT
    recipients = {number for number, _, topics in county.people if "strassen" in topics}
    assert not (recipients - {to.removeprefix("whatsapp:") for to in through}) & reached
    assert county.api("POST", f"/api/broadcasts/{second['id']}/cancel").status_code == 200


def month_estimate_from_the_fake(county):
    """What the month costs by the fake's record: each message it delivered at its template's
    category's price, and each answer to a citizen at PRICE_SERVICE, each with the fee."""
    delivered = Counter(CATEGORY[m["ContentSid"]] for m in county.delivered())
    delivered["service"] += county.replies
    return sum((n * (PRICES[category] + FEE) for category, n in delivered.items()),
               Decimal(0)), delivered


def test_the_months_estimate_is_what_was_delivered_times_the_prices(county):
    # Some citizens write: one subscribes (to the roads, whose broadcast is paused: the
    # messaging limit would not let a broadcast to them through today), one asks for help,
    # one leaves.
    newcomer, reader = "+4915399990001", county.people[1][0]
    assert "Willkommen" in write(county, newcomer, "Start strassen")
    write(county, reader, "Hilfe")
    write(county, county.people[2][0], "Stop")
    text = "Wertstoffhof Samstag geschlossen"
    answer = county.post(text=text, topics=["rathaus"],
                         translations={"en": "Recycling centre closed on Saturday"})
    county.wait_status(answer["id"], "done")
    wait_for(lambda: county.counted() == len(county.delivered()), timeout=20,
             message="every delivery the fake reported counted")
    expected, delivered = month_estimate_from_the_fake(county)
    assert delivered["marketing"] and delivered["utility"] and delivered["service"]
    plan = county.plan(text="Nur ein Plan")
    assert Decimal(str(plan["month"]["spent"])) == expected
    month = datetime.now(ZoneInfo("Europe/Berlin")).strftime("%Y-%m")
    report = county.api("GET", f"/api/costs?month={month}")
    assert report.status_code == 200, report.text
    assert Decimal(str(report.json()["total"])) == expected


def audit_trail(county, broadcast_id):
    """[(action, details)] the audit trail keeps of one broadcast, oldest first."""
    with county.database() as conn:
        return [(action, json.loads(details)) for action, details in conn.execute(
            "SELECT action, details FROM audit_log WHERE target = ? ORDER BY id",
            (f"broadcast:{broadcast_id}",))]


def over_budget_in(entries):
    return [(action, details) for action, details in entries if "budget" in json.dumps(details)]


def test_over_the_budget_the_api_sends_with_the_warning_and_an_urgent_one_is_flagged(county):
    spent = Decimal(str(county.plan(text="Nur ein Plan")["month"]["spent"]))
    assert spent > BUDGET  # what the tests before spent: this month is over its budget
    body = {"text": "Sprechstunde der Landrätin am Montag", "topics": ["rathaus"]}
    answer = county.post(**body)
    assert "over_budget" in answer["plan"]["warning_codes"]
    assert any("Monatsbudget" in warning for warning in answer["warnings"])
    # The API's token sends it: not held for an admin, it goes.
    assert answer["status"] in ("queued", "sending")
    county.wait_status(answer["id"], "done")
    wait_for(lambda: len(county.delivered(answer)) == answer["recipients"], timeout=20,
             message="everyone has it")
    assert over_budget_in(audit_trail(county, answer["id"])), audit_trail(county, answer["id"])

    urgent = county.post(text="Unwetterwarnung: Orkanböen bis 120 km/h", urgent=True)
    assert "over_budget" in urgent["plan"]["warning_codes"]
    assert urgent["status"] in ("queued", "sending")
    wait_for(lambda: county.taken(urgent), timeout=20, message="the urgent broadcast going out")
    assert over_budget_in(audit_trail(county, urgent["id"])), audit_trail(county, urgent["id"])
    # It reaches everyone the messaging limit lets through today; the rest wait for the limit,
    # never for the budget.
    paused = county.wait_status(urgent["id"], "paused", "done")
    assert paused["status"] == "done" or paused["pause_reason"].startswith("messaging limit")
    county.api("POST", f"/api/broadcasts/{urgent['id']}/cancel")
