"""A broadcast's plan (time, reach today, cost, the month, warnings): through the API, on a
real SQLite file, with deliveries the real sender wrote against the fake Twilio."""

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from bot import create_app
from bot.domain import announcements, plan
from tests.conftest import ADMIN_TOKEN, citizens_of, database
from tests.test_broadcast_api import BAD
from tests.test_broadcast_sender import run_sender

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FIELDS = ("recipients", "by_language", "by_topic", "seconds_to_last", "finishes_at",
          "reachable_now", "reachable_at", "cost", "month", "warnings")


def app_with(config, **settings):
    return create_app(dict(config, **settings))


def subscribe(client, n, *words):
    """``n`` citizens who text Start (then each of ``words``, e.g. a language's keyword)."""
    people = [citizens_of(client)() for _ in range(n)]
    for person in people:
        assert person.send("Start").status_code == 200
        for word in words:
            person.send(word)
    return people


def count(app, table):
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def plan_of(client, **body):
    response = client.post("/api/broadcasts/plan", json={"text": "Probe", **body},
                           headers=AUTH)
    assert response.status_code == 200, response.json
    return response.json


def test_the_plan_answers_every_field_and_creates_nothing(config):
    app = app_with(config, PRICE_PER_MESSAGE="0.1", MONTHLY_BUDGET="100")
    client = app.test_client()
    subscribe(client, 3)
    before = {table: count(app, table) for table in ("broadcasts", "deliveries", "audit_log")}
    answer = plan_of(client)
    assert set(FIELDS) <= set(answer)
    assert answer["recipients"] == 3 and answer["by_language"] == {"de": 3}
    assert answer["reachable_now"] == 3 and answer["reachable_at"] is None
    assert answer["cost"] == {"category": "marketing", "per_message": 0.1, "platform_fee": 0.0,
                              "total": 0.3, "currency": "EUR", "by_category": {
                                  "marketing": {"recipients": 3, "per_message": 0.1,
                                                "total": 0.3}}}
    assert answer["month"]["budget"] == 100.0 and answer["warnings"] == []
    assert {table: count(app, table) for table in before} == before, "nothing written"


def test_the_plan_needs_the_token(client):
    assert client.post("/api/broadcasts/plan", json={"text": "x"}).status_code == 401
    assert client.post("/api/broadcasts/plan", json={"text": "x"},
                       headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.parametrize("body,mentions", BAD + [(None, "JSON")])
def test_bad_input_gets_the_same_400_as_creating_it(app, client, body, mentions):
    kwargs = {"data": "nicht json", "content_type": "text/plain"} if body is None \
        else {"json": body}
    created = client.post("/api/broadcasts", headers=AUTH, **kwargs)
    planned = client.post("/api/broadcasts/plan", headers=AUTH, **kwargs)
    assert planned.status_code == created.status_code == 400
    assert planned.json == created.json
    assert count(app, "broadcasts") == 0 and count(app, "audit_log") == 0


def test_creating_a_broadcast_answers_its_plan_beside_what_it_answered(client):
    subscribe(client, 2)
    answer = client.post("/api/broadcasts", json={"text": "Straße gesperrt"},
                         headers=AUTH).json
    assert answer["recipients"] == answer["plan"]["recipients"] == 2
    assert answer["warnings"] == answer["plan"]["warnings"]
    assert set(FIELDS) <= set(answer["plan"])


def test_the_time_counts_what_is_queued_ahead_urgent_first(config):
    app = app_with(config, SEND_RATE_LIMIT=10, SEND_RATE_LIMIT_MEDIA=4)
    client = app.test_client()
    subscribe(client, 4)
    assert plan_of(client)["seconds_to_last"] == 0.4
    client.post("/api/broadcasts", json={"text": "Erste"}, headers=AUTH)
    # Four of the first are ahead of a regular one, none ahead of an urgent one.
    regular = plan_of(client)
    assert regular["seconds_to_last"] == 0.8 and regular["queue_ahead"] == 4
    assert plan_of(client, urgent=True)["seconds_to_last"] == 0.4
    # A picture goes at its own rate, and slows what comes after it.
    assert plan_of(client, urgent=True, media_url="https://kreis.example/a.jpg")[
        "seconds_to_last"] == 1.0
    client.post("/api/broadcasts", json={"text": "Bild", "urgent": True,
                                         "media_url": "https://kreis.example/a.jpg"},
                headers=AUTH)
    assert plan_of(client, urgent=True)["seconds_to_last"] == 1.4
    assert plan_of(client)["seconds_to_last"] == 1.8


def test_a_scheduled_broadcast_starts_the_clock_at_its_time(client):
    subscribe(client, 2)
    client.post("/api/broadcasts", json={"text": "Erste"}, headers=AUTH)
    send_at = datetime.now(timezone.utc) + timedelta(hours=2)
    answer = plan_of(client, send_at=send_at.isoformat())
    starts = datetime.fromisoformat(answer["starts_at"].replace("Z", "+00:00"))
    finishes = datetime.fromisoformat(answer["finishes_at"].replace("Z", "+00:00"))
    assert abs((starts - send_at).total_seconds()) < 1
    # What is queued now is long out by then: only its own two at 500/s.
    assert answer["seconds_to_last"] == 0.0 and finishes - starts < timedelta(seconds=1)


def test_a_scheduled_broadcast_still_sending_when_ours_starts_is_ahead_of_it(config):
    # Six citizens at one message a hundred seconds: the first, scheduled in two hours, takes
    # ten minutes, and cannot go before its time. One scheduled a minute after it starts
    # with nine minutes of it still to go.
    app = app_with(config, SEND_RATE_LIMIT=0.01)
    client = app.test_client()
    subscribe(client, 6)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    first = client.post("/api/broadcasts", headers=AUTH, json={
        "text": "Erste", "send_at": (now + timedelta(hours=2)).isoformat()}).json
    assert first["status"] == "scheduled" and first["plan"]["seconds_to_last"] == 600.0
    answer = plan_of(client, send_at=(now + timedelta(hours=2, minutes=1)).isoformat())
    assert answer["seconds_to_last"] == 1140.0 and answer["queue_ahead"] == 5
    assert plan.LONG in answer["warning_codes"]
    # An urgent one goes before it: only its own six.
    urgent = plan_of(client, urgent=True,
                     send_at=(now + timedelta(hours=2, minutes=1)).isoformat())
    assert urgent["seconds_to_last"] == 600.0 and urgent["queue_ahead"] == 0


def test_each_scheduled_broadcast_counts_its_own_audience_at_its_own_rate(config):
    app = app_with(config, SEND_RATE_LIMIT=1, SEND_RATE_LIMIT_MEDIA=0.5,
                   TOPICS="baustellen=Baustellen,kultur=Kultur")
    client = app.test_client()
    subscribe(client, 2)
    for words in ("Start Baustellen", "Start Baustellen", "Start Kultur", "Start Kultur"):
        assert citizens_of(client)().send(words).status_code == 200
    everyone = plan_of(client, urgent=True)["recipients"]
    building = plan_of(client, topics=["baustellen"])["recipients"]
    culture = plan_of(client, topics=["kultur"])["recipients"]
    regular = plan_of(client)["recipients"]
    assert (everyone, regular) == (6, 2) and building == culture == 4
    at = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    for extra in ({"topics": ["baustellen"]}, {"topics": ["baustellen"]},
                  {"topics": ["kultur"], "media_url": "https://kreis.example/a.jpg"},
                  {"urgent": True}):
        answer = client.post("/api/broadcasts", headers=AUTH,
                             json={"text": "Geplant", "send_at": at, **extra})
        assert answer.status_code == 202 and answer.json["status"] == "scheduled"
    # One scheduled for tomorrow is long after ours is out.
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    assert client.post("/api/broadcasts", headers=AUTH, json={
        "text": "Morgen", "send_at": tomorrow, "urgent": True}).status_code == 202
    # All four start with ours and are older: 4 + 4 texts, 4 pictures at half the rate,
    # 6 urgent texts, then our 2.
    answer = plan_of(client, send_at=at)
    assert answer["seconds_to_last"] == 4 + 4 + 8 + 6 + 2 and answer["queue_ahead"] == 18
    # An urgent one waits for the urgent one alone.
    answer = plan_of(client, send_at=at, urgent=True)
    assert answer["seconds_to_last"] == 6 + 6 and answer["queue_ahead"] == 6


def test_the_queue_is_worked_as_the_sender_works_it():
    # (order, messages, seconds each): text at 10/s, pictures at 4/s.
    text, picture = 0.1, 0.25
    regular, urgent = (2, 5), (1, 7)
    ours = (5.0, plan._order(False, None), 50, text)
    # A hundred waiting drain from now; ours joins at 5 s with fifty of them left; an urgent
    # picture broadcast joins at 7 s and goes first (5 s), then the rest of the regular one
    # (3 s), then ours (5 s). One scheduled for after ours is out changes nothing.
    joining = [(7.0, urgent, 20, picture), (40.0, (2, 9), 1000, text)]
    assert plan._sending([(regular, 100, text)], joining, ours) == pytest.approx((20.0, 70.0))
    # Nothing waits: ours alone, at its rate.
    alone = (0.0, (2, float("inf")), 8, picture)
    assert plan._sending([], [], alone) == pytest.approx((2.0, 0.0))
    # A regular broadcast scheduled before ours was written goes first when its time comes,
    # even after ours began: the sender takes the oldest.
    late = [(3.0, (2, 4), 30, text)]
    mine = (0.0, (2, float("inf")), 100, text)
    assert plan._sending([], late, mine) == pytest.approx((13.0, 30.0))
    # Answers to citizens go before everything; an urgent one waits for them and for urgent
    # ones only (a regular one is never handed in for an urgent one, but would go after it).
    waiting = [(plan._order(True, 0), 10, text), (urgent, 20, picture), (regular, 500, text)]
    mine = (2.0, plan._order(True, None), 10, text)
    later = [(9.0, (2, 3), 1000, text)]
    assert plan._sending(waiting, later, mine) == pytest.approx((7.0, 16.0))
    # What drained before ours starts is not ahead of it; an empty queue waits for the start.
    assert plan._sending([(regular, 10, text)], [], (60.0, (2, float("inf")), 10,
                                                      text)) == pytest.approx((61.0, 0.0))


def test_long_sending_and_a_slower_picture_are_warned_of(config):
    app = app_with(config, SEND_RATE_LIMIT=0.004, SEND_RATE_LIMIT_MEDIA=0.002)
    client = app.test_client()
    subscribe(client, 3)
    answer = plan_of(client, media_url="https://kreis.example/a.jpg")
    assert answer["warning_codes"] == [plan.LONG, plan.PICTURE_SLOWER]
    assert answer["seconds_to_last"] == 1500.0
    assert "etwa 25 Minuten" in answer["warnings"][0]
    assert "Mit Bild geht der Versand langsamer" in answer["warnings"][1]
    assert plan_of(client)["warning_codes"] == [plan.LONG]


def test_reach_today_counts_whom_we_reached_in_the_last_24_hours(config, twilio_api):
    app = app_with(config, MESSAGING_LIMIT_24H=5, TOPICS="baustellen=Baustellen")
    client = app.test_client()
    early = subscribe(client, 3)
    client.post("/api/broadcasts", json={"text": "Erste"}, headers=AUTH)
    run_sender(app)
    assert len(twilio_api.messages) == 3
    subscribe(client, 4)
    # 7 recipients: 3 reached already (not counted again), 4 new of which 2 fit.
    answer = plan_of(client)
    assert answer["recipients"] == 7 and answer["reachable_now"] == 5
    assert answer["warning_codes"] == [plan.NOT_REACHABLE]
    assert "nur 5 von 7" in answer["warnings"][0]
    # The three reached already get this one too and stay in the window: the two still
    # missing can go a day after this one went (when the others leave it).
    reachable_at = datetime.fromisoformat(answer["reachable_at"].replace("Z", "+00:00"))
    in_a_day = datetime.now(timezone.utc) + timedelta(days=1)
    assert abs((reachable_at - in_a_day).total_seconds()) < 5


def test_citizens_who_left_still_count_until_a_day_has_passed(config, twilio_api):
    app = app_with(config, MESSAGING_LIMIT_24H=2)
    client = app.test_client()
    early = subscribe(client, 2)
    client.post("/api/broadcasts", json={"text": "Erste"}, headers=AUTH)
    run_sender(app)
    for person in early:
        person.send("Stop")  # their deliveries keep no subscriber, but WhatsApp counts them
    subscribe(client, 2)
    answer = plan_of(client)
    assert answer["recipients"] == 2 and answer["reachable_now"] == 0
    last = max(row[0] for row in database(app).conn.execute(
        "SELECT sent_at FROM deliveries WHERE state = 'sent'"))
    reachable_at = datetime.fromisoformat(answer["reachable_at"].replace("Z", "+00:00"))
    assert abs(reachable_at.timestamp() - (last + 86400)) < 0.01
    # A day later they are out of the window: the plan made then reaches both.
    fields = announcements.check({"text": "x"}, app.config)
    later = datetime.now(timezone.utc) + timedelta(seconds=86400 + 5)
    answer = plan.of(database(app).conn, app.config, fields, now=later)
    assert answer["reachable_now"] == 2 and answer["reachable_at"] is None


def test_without_a_limit_everyone_is_reachable(client, twilio_api):
    subscribe(client, 2)
    assert plan_of(client)["reachable_now"] == 2


def test_the_cost_is_split_by_the_template_category_of_each_language(config):
    app = app_with(config, LANGUAGES="de,en", TEMPLATE_CATEGORY="marketing",
                   TEMPLATE_CATEGORY_EN="utility", PRICE_MARKETING="0.1131",
                   PRICE_UTILITY="0.0456", PLATFORM_FEE="0.0046")
    client = app.test_client()
    subscribe(client, 2)
    subscribe(client, 1, "English")
    answer = plan_of(client)
    assert answer["by_language"] == {"de": 2, "en": 1}
    assert answer["cost"]["category"] == "mixed" and answer["cost"]["per_message"] is None
    assert answer["cost"]["by_category"] == {
        "marketing": {"recipients": 2, "per_message": 0.1177, "total": 0.2354},
        "utility": {"recipients": 1, "per_message": 0.0502, "total": 0.0502}}
    assert answer["cost"]["total"] == 0.2856 and answer["cost"]["platform_fee"] == 0.0046


def test_without_a_price_the_cost_is_unknown_and_a_budget_says_so(config):
    app = app_with(config, MONTHLY_BUDGET="50")
    client = app.test_client()
    subscribe(client, 1)
    answer = plan_of(client)
    assert answer["cost"]["per_message"] is None and answer["cost"]["total"] is None
    assert answer["month"]["after"] is None
    assert answer["warning_codes"] == [plan.NO_PRICE]
    unbudgeted = app_with(config).test_client()
    assert plan_of(unbudgeted)["warnings"] == []


def test_over_the_months_budget_is_warned_of(config):
    app = app_with(config, PRICE_PER_MESSAGE="0.5", MONTHLY_BUDGET="1")
    client = app.test_client()
    subscribe(client, 3)
    answer = plan_of(client)
    assert answer["month"]["after"] == answer["month"]["spent"] + 1.5
    assert answer["warning_codes"] == [plan.OVER_BUDGET]
    assert "Monatsbudget von 1,00 €" in answer["warnings"][0]


def test_the_cli_prints_the_plan_and_sends_nothing(config):
    app = app_with(config, PRICE_MARKETING="0.1131", MESSAGING_LIMIT_24H=1, MONTHLY_BUDGET="1")
    client = app.test_client()
    subscribe(client, 2)
    result = app.test_cli_runner().invoke(args=["broadcast", "Probealarm", "--plan"])
    assert result.exit_code == 0, result.output
    assert "Plan only: nothing was sent or queued." in result.output
    assert "Recipients: 2 (de 2)" in result.output
    assert "Reach today: 1 of 2 (messaging limit 1 people per 24 hours)" in result.output
    assert "Cost: about 0.23 EUR (marketing, 0.1131 per message" in result.output
    assert "This month: 0.00 EUR spent, 0.23 after it, budget 1.00" in result.output
    assert "Warning: Heute erreicht die Meldung nur 1 von 2" in result.output
    assert count(app, "broadcasts") == 0 and count(app, "audit_log") == 0
    bad = app.test_cli_runner().invoke(args=["broadcast", "  ", "--plan"])
    assert bad.exit_code != 0 and "text is missing or empty" in bad.output
    # Without --plan it is sent, and the plan is printed with it.
    sent = app.test_cli_runner().invoke(args=["broadcast", "Probealarm"])
    assert "Broadcast 1 queued for 2 subscribers." in sent.output
    assert "Reach today: 1 of 2" in sent.output and count(app, "broadcasts") == 1


def test_a_message_the_messaging_limit_sent_back_reached_nobody(config, twilio_api):
    import time

    from bot.store import deliveries, reach
    from bot.store.db import write

    app = app_with(config, MESSAGING_LIMIT_24H=1)
    client = app.test_client()
    subscribe(client, 2)
    client.post("/api/broadcasts", json={"text": "Erste"}, headers=AUTH)
    run_sender(app)
    conn = database(app).conn
    assert reach.citizens_since(conn, time.time() - 86400) == 2
    # WhatsApp refused one after Twilio took it (a 63018 callback): queued again, it reached
    # nobody, and that citizen's last message is the one before (none).
    with write(database(app)) as tx:
        delivery_id = tx.execute("SELECT min(id) FROM deliveries").fetchone()[0]
        deliveries.requeue_for_limit(tx, [delivery_id], "63018")
        tx.execute("UPDATE broadcasts SET status = 'cancelled'")
    assert reach.citizens_since(conn, time.time() - 86400) == 1
    answer = plan_of(client)
    assert answer["recipients"] == 2 and answer["reachable_now"] == 1
    with write(database(app)) as tx:
        tx.execute("UPDATE deliveries SET state = 'skipped', error_code = 'cancelled' "
                   "WHERE state = 'queued'")


def _many_scheduled(app, number, recipients=3):
    """``number`` broadcasts scheduled for the last hours of this month, each to another set
    of topics, written as the press office's would be (with the recipients they stored)."""
    import itertools
    import json

    from bot.domain import costs
    from bot.store.db import to_iso, write

    topics = [f"t{index}" for index in range(12)]
    sets = [chosen for size in range(1, 13) for chosen in itertools.combinations(topics, size)]
    now = datetime.now(timezone.utc)
    _, end = costs.month_bounds(app.config, now=now)
    at = to_iso(max(now + timedelta(minutes=5), end - timedelta(hours=1)))
    with write(database(app)) as conn:
        conn.executemany(
            "INSERT INTO broadcasts (text, status, created_at, send_at, topics, recipients) "
            "VALUES ('geplant', 'scheduled', ?, ?, ?, ?)",
            [(to_iso(now), at, json.dumps(list(sets[index])), recipients)
             for index in range(number)])


def test_many_scheduled_audiences_neither_slow_nor_break_the_plan(config):
    """Every scheduled broadcast's audience counted again made a column of the plan's census
    each: 2,000 distinct ones and SQLite refused the query (too many columns), so that even
    an urgent warning got a 500. Each now comes with the recipients it stored."""
    app = app_with(config, PRICE_PER_MESSAGE="0.1", MONTHLY_BUDGET="100000",
                   TOPICS="t0=T0,t1=T1")
    client = app.test_client()
    subscribe(client, 2)
    _many_scheduled(app, 2100)
    answer = plan_of(client)
    assert answer["recipients"] == 2
    assert answer["month"]["committed"] == pytest.approx(2100 * 3 * 0.1)
    assert plan_of(client, urgent=True)["recipients"] == 2
    created = client.post("/api/broadcasts", json={"text": "Warnung", "urgent": True},
                          headers=AUTH)
    assert created.status_code == 202, created.json
    assert created.json["recipients"] == 2


def test_the_plan_reads_the_subscribers_in_a_bounded_number_of_columns(config):
    """However many scheduled broadcasts there are, the plan and the budget's verdict (which
    runs inside the write lock) read the subscribers with the same few queries, each with a
    few columns: the scheduled ones bring their stored recipients."""
    from bot.domain import budget

    app = app_with(config, PRICE_PER_MESSAGE="0.1", MONTHLY_BUDGET="100000",
                   TOPICS="t0=T0,t1=T1", LANGUAGES="de,en",
                   TEMPLATE_CATEGORIES="en=utility", PRICE_UTILITY="0.05")
    client = app.test_client()
    subscribe(client, 2)
    _many_scheduled(app, 300)
    conn = database(app).conn
    statements = []
    conn.set_trace_callback(statements.append)
    fields = announcements.check({"text": "x", "topics": ["t0"]}, app.config)
    plan.of(conn, app.config, fields)
    budget.verdict(conn, app.config, False, ["t0"])
    conn.set_trace_callback(None)
    reading = [sql for sql in statements if "FROM subscribers" in sql]
    assert 0 < len(reading) <= 8, reading
    assert max(sql.count("FILTER") for sql in reading) <= 3
