"""A broadcast's plan against what then happens, end to end: the Procfile's web process
(gunicorn) and worker, a real SQLite file, the platform's fake API (tests/fake_twilio.py with the
real twilio client, tests/fake_meta.py), which holds WhatsApp's messaging limit strictly and keeps
its own record of what it took and delivered, and webhooks signed as the platform signs them.

For configured rates, prices, limits and budgets: the time to the last message is the plan's
``seconds_to_last`` (within 10 %); ``reachable_now`` is exactly the number the fake lets through
under a messaging limit; the month's estimate is exactly what the fake delivered × the prices;
a broadcast over the budget goes through the API with the warning, and an urgent one goes and
the audit trail says it went over.

Each deployment has a fake of its own that nothing resets, so that the fake's record and the
database's tell of the same messages: ``paced`` for the time (on Twilio, nothing else running
beside it), ``pictures`` for a picture's time at its own rate, ``county`` for reach, money and
the budget on each platform, its tests in the order they are written. Subscribers are made through the same storage code the webhook uses
(thousands of signed webhooks would take most of the time); the citizens who write to us do it
in webhooks signed as the platform signs them.
"""

import json
import random
import sqlite3
import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot import create_app, vault
from bot.store import db, subscribers
from bot.platforms import meta
from bot.vault import new_key
from tests import fake_meta
from tests.conftest import (ADMIN_TOKEN, COUNTY_NUMBER, PROCESS_AUTHORITY, Process, WebServer,
                            audit_trail_broken, citizens_of, counts_disagreeing, free_port,
                            reply_text, time_bound, wait_for)
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

# A bound on every test here (the processes start before it, each within its own 30 s).
TEST_SECONDS = 90
GERMAN, ENGLISH = "HX" + "d" * 32, "HX" + "e" * 32      # each language's approved template
PRICES = {"marketing": Decimal("0.1131"), "utility": Decimal("0.0456"),
          "service": Decimal("0.0100")}
FEE = Decimal("0.0043")
LIMIT = 1000          # WhatsApp's messaging limit, the fake's and MESSAGING_LIMIT_24H
BUDGET = Decimal("100")


class TwilioSide:
    """Twilio and its fake (tests/fake_twilio.py): templates by content SID, answers to
    citizens in the webhook's TwiML, which the fake never sees (the test counts them)."""

    name = "twilio"
    templates = {GERMAN: "marketing", ENGLISH: "utility"}  # TEMPLATE_CATEGORY(_EN)

    def __init__(self, web_url):
        self.fake = FakeTwilio().start()
        self.answers = 0
        self.env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_WHATSAPP_FROM": COUNTY_NUMBER, "TWILIO_API_URL": self.fake.url,
                    "BROADCAST_CONTENT_SID": GERMAN, "BROADCAST_CONTENT_SID_EN": ENGLISH}

    def report(self, statuses, limit=None):
        self.fake.callbacks = list(statuses)
        self.fake.callback_shuffle = True
        self.fake.messaging_limit = limit

    def writes(self, web, number, text):
        response = web.citizen(number).send(text)
        assert response.status_code == 200, response.text
        answer = reply_text(response.text)
        self.answers += answer is not None
        return answer

    def messages(self):
        return [dict(id=m["sid"], to=m["To"].removeprefix("whatsapp:"), template=m.get(
            "ContentSid"), text=json.loads(m.get("ContentVariables") or "{}").get("1"))
            for m in list(self.fake.messages)]

    def delivered_ids(self):
        return set(self.fake.delivered)

    def limited_ids(self):
        return {sid for sid, _ in list(self.fake.limited)}

    def reached(self):
        return self.fake.reached_since()

    def delivered_answers(self):
        return self.answers


class MetaSide:
    """Meta and its fake (tests/fake_meta.py): templates by name and language, answers to
    citizens sent by the worker through the API, so the fake's record has them too."""

    name = "meta"
    templates = {fake_meta.TEMPLATE: "marketing", "infokanal_broadcast_en": "utility"}

    def __init__(self, web_url):
        self.fake = fake_meta.FakeMeta(
            webhook_url=web_url + meta.WEBHOOK_PATH,
            templates={fake_meta.TEMPLATE: {"language": "de", "parameters": 1},
                       "infokanal_broadcast_en": {"language": "en", "parameters": 1}}).start()
        self.env = {"WHATSAPP_PLATFORM": "meta", "META_ACCESS_TOKEN": fake_meta.ACCESS_TOKEN,
                    "META_PHONE_NUMBER_ID": fake_meta.PHONE_NUMBER_ID,
                    "META_APP_SECRET": fake_meta.APP_SECRET,
                    "META_VERIFY_TOKEN": "test-meta-verify-token-not-a-real-one",
                    "META_API_URL": self.fake.url, "META_TEMPLATE": fake_meta.TEMPLATE,
                    "META_TEMPLATE_EN": "infokanal_broadcast_en",
                    "META_DISPLAY_PHONE_NUMBER": "+" + fake_meta.DISPLAY_PHONE_NUMBER}

    def report(self, statuses, limit=None):
        self.fake.statuses = list(statuses)
        self.fake.callback_shuffle = True
        self.fake.messaging_limit = limit

    def writes(self, web, number, text):
        seen = len(self.fake.sent_to(number.lstrip("+")))
        assert self.fake.post_inbound(number.lstrip("+"), text) == 200
        answers = wait_for(lambda: self.fake.sent_to(number.lstrip("+"))[seen:], timeout=15,
                           message=f"an answer to {text!r}")
        return answers[0]["text"]

    def messages(self):
        return [dict(id=m["id"], to="+" + m["to"], template=m["template"],
                     text=(m["parameters"] or [m["text"]])[0])
                for m in list(self.fake.messages)]

    def delivered_ids(self):
        # Delivered by the fake's word, and heard by the app (answered 200).
        return {wamid for wamid, names in list(self.fake.acknowledged.items())
                if "delivered" in names}

    def limited_ids(self):
        return set(self.fake.limited)

    def reached(self):
        return {"+" + digits for digits in self.fake.reached_since()}

    def delivered_answers(self):
        delivered = self.delivered_ids()
        return sum(1 for m in self.messages() if m["template"] is None and m["id"] in delivered)


def settings(tmp_path, side=TwilioSide, **extra):
    """The Procfile processes' environment: template mode, German and English, and the web
    process's own address as PUBLIC_URL, so that the platform's status reports reach it.
    Returns (the environment, the platform's side with its fake running)."""
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    platform = side(web_url)
    env = {
        "PORT": str(port), "PUBLIC_URL": web_url,
        "ADMIN_TOKEN": ADMIN_TOKEN, "DATA_KEY": new_key(),
        "DATABASE_PATH": str(tmp_path / "infokanal.db"),
        "AUTHORITY_NAME": PROCESS_AUTHORITY, "CONTACT_INFO": "Bürgertelefon 0800 123 456",
        "SENDER_POLL_SECONDS": "0.05", "LANGUAGES": "de,en", **platform.env,
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env, platform


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
    """The web process and the worker of one configuration, with the platform they send to."""

    def __init__(self, env, side):
        self.env, self.side = env, side
        self.web = WebServer(env)
        self.worker = Process("worker", env)
        wait_for(lambda: "Sender running" in self.worker.output()
                 or self.worker.proc.poll() is not None, timeout=30, message="the worker")
        assert self.worker.proc.poll() is None, self.worker.output()

    def stop(self):
        self.worker.stop()
        self.web.stop()
        self.side.fake.stop()
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

    def writes(self, number, text):
        """A citizen writes (signed as the platform signs); their answer."""
        return self.side.writes(self.web, number, text)

    def database(self):
        return sqlite3.connect(self.env["DATABASE_PATH"])

    def taken(self, broadcast):
        """The fake's messages of a broadcast (the API's answer), in any of its languages:
        {"id", "to", "template", "text"}."""
        texts = {broadcast["text"], *(broadcast.get("translations") or {}).values()}
        return [m for m in self.side.messages() if m["template"] and m["text"] in texts]

    def delivered(self, broadcast=None):
        """The fake's record of the template messages it delivered (of one broadcast)."""
        delivered = self.side.delivered_ids()
        return [m for m in (self.taken(broadcast) if broadcast else self.side.messages())
                if m["template"] and m["id"] in delivered]

    def settled(self):
        """Whether every message the fake took is delivered (the app heard it) or stopped by
        the messaging limit, and the database has counted each delivered one."""
        done = self.side.delivered_ids() | self.side.limited_ids()
        return all(m["id"] in done for m in self.side.messages()) \
            and self.counted() == len(self.delivered())

    def counted(self):
        """Broadcast messages the database has counted delivered (``message_usage``)."""
        with self.database() as conn:
            return conn.execute("SELECT coalesce(sum(n), 0) FROM message_usage "
                                "WHERE broadcast_id != 0").fetchone()[0]


@pytest.fixture(autouse=True)
def bounded():
    """Every test ends within TEST_SECONDS, whatever hangs."""
    with time_bound(TEST_SECONDS):
        yield


# -- time ----------------------------------------------------------------------------------------

PACED_RATE = 200
PACED_SUBSCRIBERS = 2000


@pytest.fixture(scope="module")
def paced(tmp_path_factory):
    """2,000 subscribers (a quarter of them English) and SEND_RATE_LIMIT=200 on Twilio; the fake
    reports no statuses, so that nothing but the sending takes the machine's time."""
    env, side = settings(tmp_path_factory.mktemp("paced"), SEND_RATE_LIMIT=PACED_RATE)
    seed(env, [(f"+49152{n:08d}", "en" if n % 4 == 0 else None, None)
               for n in range(PACED_SUBSCRIBERS)])
    deployment = Deployment(env, side)
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
    taken = list(paced.side.fake.messages)
    assert len(taken) == PACED_SUBSCRIBERS
    assert Counter(m["ContentSid"] for m in taken) == {GERMAN: 1500, ENGLISH: 500}
    measured = max(m["received_at"] for m in taken) - sent_at
    first = min(m["received_at"] for m in taken) - sent_at
    print(f"\nplan: {plan['seconds_to_last']} s to the last of {PACED_SUBSCRIBERS} at "
          f"{PACED_RATE}/s; measured: {measured:.2f} s (the first after {first:.2f} s)")
    assert abs(measured - plan["seconds_to_last"]) <= 0.1 * plan["seconds_to_last"], (
        measured, plan["seconds_to_last"])


PICTURE_RATE, PICTURE_SUBSCRIBERS = 50, 250


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Text at 100/s, pictures at 50/s (SEND_RATE_LIMIT_MEDIA), free-form messages (a picture
    goes without a text template), 250 subscribers."""
    env, side = settings(tmp_path_factory.mktemp("pictures"), SEND_RATE_LIMIT=100,
                         SEND_RATE_LIMIT_MEDIA=PICTURE_RATE)
    for name in ("BROADCAST_CONTENT_SID", "BROADCAST_CONTENT_SID_EN"):
        del env[name]
    seed(env, [(f"+49154{n:08d}", None, None) for n in range(PICTURE_SUBSCRIBERS)])
    deployment = Deployment(env, side)
    yield deployment
    deployment.stop()


def test_a_picture_reaches_the_last_citizen_when_the_plan_says(pictures):
    sent_at = time.time()
    answer = pictures.post(text="Vermisst: Wer hat diesen Hund gesehen?",
                           media_url="https://infokanal.example.de/media/hund.jpg")
    plan = answer["plan"]
    assert (plan["rate"], plan["seconds_to_last"]) == (PICTURE_RATE, 5.0)
    assert "picture_slower" in plan["warning_codes"]
    pictures.wait_status(answer["id"], "done", timeout=30)
    taken = list(pictures.side.fake.messages)
    assert len(taken) == PICTURE_SUBSCRIBERS and all(m.get("MediaUrl") for m in taken)
    measured = max(m["received_at"] for m in taken) - sent_at
    print(f"\nplan: {plan['seconds_to_last']} s to the last of {PICTURE_SUBSCRIBERS} pictures "
          f"at {PICTURE_RATE}/s; measured: {measured:.2f} s")
    assert abs(measured - plan["seconds_to_last"]) <= 0.1 * plan["seconds_to_last"], (
        measured, plan["seconds_to_last"])


def test_a_picture_rate_above_the_numbers_rate_plans_at_the_numbers(config):
    """The number's rate caps everything it sends: a picture never goes faster than text, and
    the sender paces it so (its picture bucket only where the picture rate is the lower)."""
    app = create_app(dict(config, SEND_RATE_LIMIT=100, SEND_RATE_LIMIT_MEDIA=400))
    client = app.test_client()
    for _ in range(3):
        assert citizens_of(client)().send("Start").status_code == 200
    answer = client.post("/api/broadcasts/plan", headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}"}, json={
        "text": "Hund gefunden", "media_url": "https://infokanal.example.de/media/hund.jpg"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert (answer.json["rate"], answer.json["seconds_to_last"]) == (100, 0.0)


# -- reach, money and the budget, on each platform -----------------------------------------------

# Who subscribed to what: 200 to "rathaus" only, 400 to "rathaus" and "strassen", 1,100 to
# "strassen" only, in a mixed order; every fourth one reads English.
EARLIER, OVERLAP, NEW = 200, 400, 1100


@pytest.fixture(scope="module", params=[TwilioSide, MetaSide], ids=["twilio", "meta"])
def county(request, tmp_path_factory):
    """The messaging limit at 1,000 (the fake's and MESSAGING_LIMIT_24H), German templates
    marketing and English ones utility, prices, a fee and a monthly budget; the fake reports
    each message sent, delivered and read, in any order (read implies delivered). The sender
    pauses an hour at the limit (the default)."""
    env, side = settings(
        tmp_path_factory.mktemp(request.param.name), request.param, SEND_RATE_LIMIT=400,
        TOPICS="rathaus=Rathaus,strassen=Straßen und Verkehr", MESSAGING_LIMIT_24H=LIMIT,
        TEMPLATE_CATEGORY="marketing", TEMPLATE_CATEGORY_EN="utility",
        PRICE_MARKETING=PRICES["marketing"], PRICE_UTILITY=PRICES["utility"],
        PRICE_SERVICE=PRICES["service"], PLATFORM_FEE=FEE, MONTHLY_BUDGET=BUDGET)
    side.report(["sent", "delivered", "read"], limit=LIMIT)
    topics = [["rathaus"]] * EARLIER + [["rathaus", "strassen"]] * OVERLAP + [["strassen"]] * NEW
    random.Random(30).shuffle(topics)  # whoever subscribed first: the sender's order is theirs
    people = [(f"+49153{n:08d}", "en" if n % 4 == 0 else None, chosen)
              for n, chosen in enumerate(topics)]
    seed(env, people)
    deployment = Deployment(env, side)
    deployment.people = people
    yield deployment
    deployment.stop()


def test_reachable_now_is_exactly_what_the_platform_lets_through(county):
    first = county.post(text="Rathaus heute ab 12 Uhr geschlossen", topics=["rathaus"],
                        translations={"en": "Town hall closed from noon today"})
    assert first["plan"]["reachable_now"] == EARLIER + OVERLAP
    county.wait_status(first["id"], "done")
    assert len(county.side.reached()) == EARLIER + OVERLAP

    body = {"text": "B 74 zwischen Ritterhude und Osterholz gesperrt", "topics": ["strassen"],
            "translations": {"en": "B 74 closed"}}
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
    wait_for(lambda: all(m["id"] in county.side.delivered_ids() or m["id"] in
                         county.side.limited_ids() for m in county.taken(second)), timeout=20,
             message="every message in flight answered")
    through = {m["to"] for m in county.delivered(second)}
    assert len(through) == plan["reachable_now"]
    # And not one more could have gone: the fake's day is full, and everyone this broadcast has
    # not reached yet is someone the fake has not reached today.
    reached = county.side.reached()
    assert len(reached) == LIMIT
    recipients = {number for number, _, topics in county.people if "strassen" in topics}
    assert not (recipients - through) & reached
    assert county.api("POST", f"/api/broadcasts/{second['id']}/cancel").status_code == 200


def month_estimate_from_the_fake(county):
    """What the month costs by the fake's record: each template message it delivered at its
    template's category's price, and each answer to a citizen at PRICE_SERVICE, each with the
    fee. {category: messages} and the sum."""
    delivered = Counter(county.side.templates[m["template"]] for m in county.delivered())
    delivered["service"] += county.side.delivered_answers()
    return sum((n * (PRICES[category] + FEE) for category, n in delivered.items()),
               Decimal(0)), delivered


def test_the_months_estimate_is_what_was_delivered_times_the_prices(county):
    # Some citizens write: one subscribes (to the roads, whose broadcast is paused: the
    # messaging limit would not let a broadcast to them through today), one asks for help,
    # one leaves.
    newcomer, reader = "+4915399990001", county.people[1][0]
    assert "Willkommen" in county.writes(newcomer, "Start strassen")
    county.writes(reader, "Hilfe")
    county.writes(county.people[2][0], "Stop")
    answer = county.post(text="Wertstoffhof Samstag geschlossen", topics=["rathaus"],
                         translations={"en": "Recycling centre closed on Saturday"})
    county.wait_status(answer["id"], "done")
    wait_for(county.settled, timeout=20, message="every message reported and counted")
    expected, delivered = month_estimate_from_the_fake(county)
    assert delivered["marketing"] and delivered["utility"] and delivered["service"] >= 3
    plan = county.plan(text="Nur ein Plan")
    assert Decimal(str(plan["month"]["spent"])) == expected
    month = datetime.now(ZoneInfo("Europe/Berlin")).strftime("%Y-%m")
    report = county.api("GET", f"/api/costs?month={month}")
    assert report.status_code == 200, report.text
    assert Decimal(str(report.json()["total"])) == expected
    assert {category: n for category, n in report.json()["delivered"].items() if n} == delivered


def audit_trail(county, broadcast_id):
    """[(action, details)] the audit trail keeps of one broadcast, oldest first."""
    with county.database() as conn:
        return [(action, json.loads(details)) for action, details in conn.execute(
            "SELECT action, details FROM audit_log WHERE target = ? ORDER BY id",
            (f"broadcast:{broadcast_id}",))]


def over_budget_in(entries):
    """The audit entries that say the broadcast went over the budget, with the figures."""
    return [(action, details) for action, details in entries
            if details.get("over_budget") is True and details.get("budget") == "100.0000"
            and Decimal(details["month_spent"]) > BUDGET and Decimal(details["cost"]) > 0]


def test_over_the_budget_the_api_sends_with_the_warning_and_an_urgent_one_is_flagged(county):
    spent = Decimal(str(county.plan(text="Nur ein Plan")["month"]["spent"]))
    assert spent > BUDGET  # what the tests before spent: this month is over its budget
    body = {"text": "Sprechstunde der Landrätin am Montag", "topics": ["rathaus"]}
    answer = county.post(**body)
    assert "over_budget" in answer["plan"]["warning_codes"] and answer["over_budget"] is True
    assert any("Monatsbudget" in warning for warning in answer["warnings"])
    # The API's token sends it: not held for an admin, it goes.
    assert answer["status"] in ("queued", "sending")
    county.wait_status(answer["id"], "done")
    wait_for(lambda: len(county.delivered(answer)) == answer["recipients"], timeout=20,
             message="everyone has it")
    assert over_budget_in(audit_trail(county, answer["id"])), audit_trail(county, answer["id"])

    urgent = county.post(text="Unwetterwarnung: Orkanböen bis 120 km/h", urgent=True)
    assert "over_budget" in urgent["plan"]["warning_codes"] and urgent["over_budget"] is True
    assert urgent["status"] in ("queued", "sending")
    wait_for(lambda: county.taken(urgent), timeout=20, message="the urgent broadcast going out")
    assert over_budget_in(audit_trail(county, urgent["id"])), audit_trail(county, urgent["id"])
    # It reaches everyone the messaging limit lets through today; the rest wait for the limit,
    # never for the budget.
    paused = county.wait_status(urgent["id"], "paused", "done")
    assert paused["status"] == "done" or paused["pause_reason"].startswith("messaging limit")
    county.api("POST", f"/api/broadcasts/{urgent['id']}/cancel")
