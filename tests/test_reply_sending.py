"""Answers to citizens that the worker sends (store.replies), on a platform whose webhook cannot
carry them: the sender in-process, the real twilio client against the fake API (the send loop
speaks no platform's words, so one platform's fake shows it), a real SQLite file."""

import asyncio
import time

from bot.delivery import worker
from bot.store import broadcasts, replies, subscribers
from bot.store.db import write
from bot.vault import Vault, new_key, new_lookup_key, parse_data_key
from tests.conftest import broadcast, database, new_number, rows, scalar

ANSWER = "Willkommen beim Infokanal!"


def subscribe_many(app, n):
    """``n`` subscribers written straight through storage (a webhook each would take longer
    than the broadcast they are for)."""
    vault = app.extensions["infokanal"].vault
    numbers = [new_number() for _ in range(n)]
    with write(database(app)) as conn:
        for i, number in enumerate(numbers):
            subscribers.subscribe(conn, vault.hash(number), vault.encrypt(number), "start",
                                  f"in-{i}")
    return numbers


def queue_answer(app, number=None, body=ANSWER, vault=None):
    vault = vault or app.extensions["infokanal"].vault
    number = number or new_number()
    with write(database(app)) as conn:
        reply_id = replies.queue(conn, vault.hash(number), vault.encrypt(number), body)
    return number, reply_id


def build(app, **settings):
    sender = worker.build(dict(app.config, **settings), app.extensions["infokanal"].vault,
                          demo=False)
    sender.throttle_backoff_cap = 0.05  # 429s back off exponentially: small steps, same rule
    return sender


async def close(sender):
    await sender.transport.close()
    sender.database.conn.close()


def run_until_idle(app, timeout=30, **settings):
    async def run():
        sender = build(app, **settings)
        try:
            await asyncio.wait_for(sender.run(until_idle=True), timeout)
        finally:
            await close(sender)
        return sender

    return asyncio.run(run())


def run_for(app, seconds, prepare=None, **settings):
    """Run the sender (not until idle) for ``seconds``, then stop it as SIGTERM does."""

    async def run():
        sender = build(app, **settings)
        if prepare:
            prepare(sender)
        running = asyncio.create_task(sender.run())
        await asyncio.sleep(seconds)
        sender.stop()
        try:
            await asyncio.wait_for(running, 15)
        finally:
            await close(sender)
        return sender

    return asyncio.run(run())


def counter(app, name):
    return dict(rows(app, "SELECT name, value FROM counters")).get(name, 0)


def test_an_answer_queued_during_a_big_broadcast_goes_out_at_once_within_the_rate(
        app, twilio_api):
    rate = 100
    subscribe_many(app, 250)  # two and a half seconds of broadcast at this rate
    broadcast_id = broadcast(app, "Sturmwarnung für den ganzen Kreis")
    queued = {}

    async def run():
        sender = build(app, SEND_RATE_LIMIT=rate)
        running = asyncio.create_task(sender.run(until_idle=True))
        while len(twilio_api.messages) < 100:  # the broadcast is well under way
            await asyncio.sleep(0.01)

        def queue():
            # As the web process does: in a transaction of its own, from another thread.
            queued["at"] = time.time()
            queued["number"], _ = queue_answer(app)

        await asyncio.to_thread(queue)
        try:
            await asyncio.wait_for(running, 30)
        finally:
            await close(sender)

    asyncio.run(run())
    answers = [m for m in twilio_api.messages if m["Body"] == ANSWER]
    assert [m["To"] for m in answers] == [f"whatsapp:{queued['number']}"]
    waited = answers[0]["received_at"] - queued["at"]
    assert waited < 0.5, f"the answer waited {waited:.3f} s behind the broadcast"
    after = [m for m in twilio_api.messages if m["received_at"] > answers[0]["received_at"]]
    assert len(after) > 50, "the broadcast was still going out: the answer went ahead of it"
    stamps = sorted(m["received_at"] for m in twilio_api.messages)
    assert len(stamps) == 251
    # Every one-second window, sliding by 10 ms, holds about the rate: the answer took a token
    # of the same bucket. Counted where the messages arrive, so a busy machine's jitter (a few
    # sends bunched by a late wake-up) is allowed for; that the answer's token is the bucket's
    # own is proven in tests/test_sender.py.
    worst = max(sum(1 for s in stamps if t0 <= s < t0 + 1)
                for t0 in (stamps[0] + i * 0.01 for i in range(int((stamps[-1] - stamps[0])
                                                                   * 100))))
    assert worst <= rate * 1.1
    # And over the whole run, the rate itself (the bucket's burst is a fiftieth of a second).
    assert (len(stamps) - rate / 50) / (stamps[-1] - stamps[0]) <= rate * 1.02
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["counts"]["sent"] == 250 and final["status"] == "done"
    assert rows(app, "SELECT count(*) FROM replies") == [(0,)]
    assert counter(app, replies.SENT) == 1


def test_answers_wait_for_the_worker_and_an_until_idle_run_sends_them_all(app, twilio_api):
    numbers = [queue_answer(app, body=f"Antwort {i}")[0] for i in range(5)]
    assert scalar(app, "SELECT count(*) FROM replies") == 5  # no worker: they wait
    run_until_idle(app)
    sent = sorted((m["To"], m["Body"]) for m in twilio_api.messages)
    assert sent == sorted((f"whatsapp:{n}", f"Antwort {i}") for i, n in enumerate(numbers))
    assert rows(app, "SELECT count(*) FROM replies") == [(0,)]
    assert counter(app, replies.SENT) == 5 and counter(app, replies.FAILED) == 0


def test_an_answer_a_killed_worker_had_claimed_goes_out_at_the_next_start(app, twilio_api):
    number, reply_id = queue_answer(app)
    with write(database(app)) as conn:
        assert [row[0] for row in replies.claim(conn, 10, time.time())] == [reply_id]
    run_until_idle(app)
    assert [m["To"] for m in twilio_api.messages] == [f"whatsapp:{number}"]
    assert rows(app, "SELECT count(*) FROM replies") == [(0,)]


def test_answers_a_killed_worker_had_in_flight_count_as_possible_duplicates(
        app, client, twilio_api, caplog):
    from tests.test_metrics import scrape, value

    for _ in range(2):
        queue_answer(app)
    queue_answer(app)  # not yet claimed when the worker died: no duplicate
    with write(database(app)) as conn:
        assert len(replies.claim(conn, 2, time.time())) == 2
    with caplog.at_level("WARNING", logger="bot.delivery.sender"):
        run_until_idle(app)
    assert len(twilio_api.messages) == 3
    assert counter(app, replies.RETRIED_UNKNOWN) == 2
    assert value(scrape(client), "infokanal_replies_retried_unknown_total") == 2
    started = [r.getMessage() for r in caplog.records if "in flight" in r.getMessage()]
    assert started == ["2 answers to citizens were in flight at the last stop; sending them "
                       "again (counted as possible duplicates)"]


def test_an_answer_retried_after_an_unknown_outcome_counts_as_a_possible_duplicate(
        app, twilio_api):
    queue_answer(app)
    twilio_api.error_queue = [(500, 20500)]
    run_until_idle(app)
    assert len(twilio_api.messages) == 1
    assert counter(app, replies.RETRIED_UNKNOWN) == 1 and counter(app, replies.SENT) == 1


def test_one_citizens_answers_arrive_in_the_order_they_were_queued(app, twilio_api):
    number, _ = queue_answer(app, body="Willkommen")
    queue_answer(app, number, body="Abgemeldet")
    # The first one is slow to be taken (the network, the platform): the second must not pass it.
    twilio_api.error_queue = [("slow", 0.3)]
    run_until_idle(app)
    assert [m["Body"] for m in twilio_api.messages] == ["Willkommen", "Abgemeldet"]
    assert counter(app, replies.SENT) == 2


def test_an_answer_retried_keeps_its_place_and_other_citizens_do_not_wait_for_it(
        app, twilio_api):
    number, _ = queue_answer(app, body="Willkommen")
    queue_answer(app, number, body="Abgemeldet")
    # The first try of the first answer has an unknown outcome: tried again about a second
    # later, still ahead of the citizen's second answer; another citizen's, queued after that
    # first try, goes out meanwhile.
    twilio_api.error_queue = [(500, 20500)]
    found = {}

    async def run():
        sender = build(app)
        running = asyncio.create_task(sender.run(until_idle=True))
        while twilio_api.requests < 1:
            await asyncio.sleep(0.01)
        found["other"], _ = await asyncio.to_thread(queue_answer, app, None, "Hilfe")
        try:
            await asyncio.wait_for(running, 30)
        finally:
            await close(sender)

    asyncio.run(run())
    other = found["other"]
    assert twilio_api.requests == 4
    assert [m["Body"] for m in twilio_api.messages] == ["Hilfe", "Willkommen", "Abgemeldet"]
    assert [m["To"] for m in twilio_api.messages] == [
        f"whatsapp:{other}", f"whatsapp:{number}", f"whatsapp:{number}"]


def test_too_many_requests_never_fail_an_answer(app, twilio_api):
    number, _ = queue_answer(app)
    twilio_api.error_queue = [(429, 20429)] * 4
    run_until_idle(app, SEND_MAX_ATTEMPTS=2)
    assert [m["To"] for m in twilio_api.messages] == [f"whatsapp:{number}"]
    assert twilio_api.requests == 5
    assert counter(app, replies.SENT) == 1 and counter(app, replies.FAILED) == 0


def test_unknown_outcomes_give_an_answer_up_after_send_max_attempts(app, twilio_api):
    queue_answer(app)
    twilio_api.error_queue = [(500, 20500)] * 5
    # The backoff between unknown outcomes starts at a second: two tries take one.
    run_until_idle(app, SEND_MAX_ATTEMPTS=2)
    assert twilio_api.requests == 2 and twilio_api.messages == []
    assert rows(app, "SELECT count(*) FROM replies") == [(0,)]
    assert counter(app, replies.FAILED) == 1 and counter(app, replies.SENT) == 0


def test_an_answer_the_platform_refuses_for_its_recipient_fails_at_once(app, twilio_api):
    number, _ = queue_answer(app)
    twilio_api.recipient_errors[number] = (400, 63003)
    run_until_idle(app)
    assert twilio_api.requests == 1
    assert counter(app, replies.FAILED) == 1
    assert rows(app, "SELECT count(*) FROM replies") == [(0,)]


def test_refused_credentials_keep_answers_until_they_are_fixed(app, twilio_api):
    number, _ = queue_answer(app)
    twilio_api.auth_token = "not-the-one-the-worker-has"
    sender = run_for(app, 0.6, prepare=lambda s: setattr(s, "reply_hold_seconds", 0.1))
    assert twilio_api.messages == [] and twilio_api.requests >= 2, "held, and tried again"
    assert rows(app, "SELECT state, attempts FROM replies") == [("queued", 0)]
    assert counter(app, replies.FAILED) == 0 and sender.replies_total == 0
    twilio_api.auth_token = twilio_api._configured_token
    run_until_idle(app)
    assert [m["To"] for m in twilio_api.messages] == [f"whatsapp:{number}"]


def test_an_answer_the_data_key_cannot_open_waits_and_is_logged(app, twilio_api, caplog):
    other = Vault(parse_data_key(new_key()), new_lookup_key())
    queue_answer(app, vault=other)
    with caplog.at_level("ERROR", logger="bot.delivery.sender"):
        run_for(app, 0.3)
    assert twilio_api.requests == 0
    assert rows(app, "SELECT state FROM replies") == [("queued",)]
    assert len([r for r in caplog.records if "DATA_KEY" in r.getMessage()]) == 1


def test_metrics_count_answers_sent_and_failed_and_those_waiting(app, client, twilio_api):
    from tests.test_metrics import scrape, value

    refused, _ = queue_answer(app)
    twilio_api.recipient_errors[refused] = (400, 63003)
    for _ in range(2):
        queue_answer(app)
    found = scrape(client)
    assert value(found, "infokanal_reply_queue_depth") == 3
    assert value(found, "infokanal_replies_total", outcome="sent") == 0
    run_until_idle(app)
    queue_answer(app)  # the worker has stopped: this one waits
    found = scrape(client)
    assert value(found, "infokanal_replies_total", outcome="sent") == 2
    assert value(found, "infokanal_replies_total", outcome="failed") == 1
    assert value(found, "infokanal_reply_queue_depth") == 1


def test_answers_queued_while_the_worker_is_down_go_out_when_the_procfile_worker_starts(
        app, env, twilio_api, start_worker):
    from tests.conftest import wait_for

    numbers = [queue_answer(app, body=f"Antwort {i}")[0] for i in range(3)]
    time.sleep(0.3)
    assert twilio_api.requests == 0, "nobody sends them while the worker is down"
    worker_process = start_worker(env)
    wait_for(lambda: len(twilio_api.messages) == 3, timeout=20, message="the answers")
    assert sorted(m["To"] for m in twilio_api.messages) == sorted(
        f"whatsapp:{n}" for n in numbers)
    wait_for(lambda: scalar(app, "SELECT count(*) FROM replies") == 0, timeout=10,
             message="the answers settled")
    worker_process.stop()


def test_in_demo_mode_an_answer_the_worker_finds_goes_to_the_outbox_as_an_answer(config):
    from bot import create_app

    demo = create_app({k: v for k, v in config.items() if not k.startswith("TWILIO_")})
    number, _ = queue_answer(demo)

    async def run():
        sender = worker.build(demo.config, demo.extensions["infokanal"].vault, demo=True)
        try:
            await asyncio.wait_for(sender.run(until_idle=True), 30)
        finally:
            await close(sender)

    asyncio.run(run())
    assert rows(demo, "SELECT body, kind FROM outbox") == [(ANSWER, "reply")]
