"""The sender in-process: the real twilio client against the fake API, a real SQLite file."""

import asyncio
import logging

from bot.platforms import twilio as gateway
from bot.delivery import worker
from bot.store import broadcasts, statuses
from bot.store.db import write
from tests.conftest import broadcast, database, rows


def subscribe(citizen, n):
    people = [citizen() for _ in range(n)]
    for person in people:
        assert person.send("Start").status_code == 200
    return people


def run_sender(app, throttle_backoff_cap=0.05, **settings):
    """Run the sender until nothing is left to send, as `flask worker --until-idle` would."""
    config = dict(app.config, **settings)

    async def run():
        sender = worker.build(config, app.extensions["infokanal"].vault, demo=False)
        # 429s back off exponentially; the test keeps the steps small, not the rule.
        sender.throttle_backoff_cap = throttle_backoff_cap
        try:
            await asyncio.wait_for(sender.run(until_idle=True), 60)
        finally:
            await sender.transport.close()
            sender.database.conn.close()
        return sender

    return asyncio.run(run())


def test_throttling_never_fails_a_delivery_however_often_it_comes(app, citizen, twilio_api):
    people = subscribe(citizen, 2)
    broadcast_id = broadcast(app, "Sturmwarnung")
    twilio_api.error_queue = [(429, 20429)] * 5
    run_sender(app, SEND_MAX_ATTEMPTS=2)
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["status"] == "done"
    assert final["counts"]["sent"] == 2 and final["counts"]["failed"] == 0
    assert final["retries_unknown"] == 0, "a 429 was never processed: no duplicate possible"
    assert sorted(m["To"] for m in twilio_api.messages) == sorted(
        f"whatsapp:{p.number}" for p in people)
    assert twilio_api.requests == 7
    assert rows(app, "SELECT DISTINCT attempts FROM deliveries") == [(0,)]


def test_unknown_outcomes_still_give_up_after_send_max_attempts(app, citizen, twilio_api):
    subscribe(citizen, 1)
    broadcast_id = broadcast(app)
    twilio_api.error_queue = [(500, 20500)] * 3
    run_sender(app, SEND_MAX_ATTEMPTS=2)
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["counts"]["failed"] == 1 and final["errors"] == {"20500": 1}
    assert twilio_api.requests == 2 and twilio_api.messages == []
    assert final["retries_unknown"] == 1, "only the send that was tried again"


TEMPLATE_HINT = "BROADCAST_CONTENT_SID"
HINT_LOGGER = "bot.delivery.chores"


def hint_warnings(caplog, broadcast_id):
    return [r for r in caplog.records if r.name == HINT_LOGGER and r.levelno == logging.WARNING
            and f"Broadcast {broadcast_id}:" in r.getMessage()
            and TEMPLATE_HINT in r.getMessage()]


def test_free_form_refusals_log_one_template_hint_per_broadcast(app, citizen, twilio_api,
                                                                caplog):
    people = subscribe(citizen, 3)
    for person in people:
        twilio_api.recipient_errors[person.number] = (400, 63016)
    first = broadcast(app, "eins")
    second = broadcast(app, "zwei")
    with caplog.at_level(logging.WARNING, logger=HINT_LOGGER):
        run_sender(app)
    assert len(hint_warnings(caplog, first)) == 1 and len(hint_warnings(caplog, second)) == 1


def test_refusals_reported_in_callbacks_log_the_hint_too(app, citizen, twilio_api, caplog):
    subscribe(citizen, 2)
    broadcast_id = broadcast(app)
    run_sender(app)
    conn = database(app).conn
    for (sid,) in rows(app, "SELECT sid FROM deliveries"):
        update = gateway.parse_status({"MessageSid": sid, "MessageStatus": "undelivered",
                                       "ErrorCode": "63016"})
        with write(conn) as tx:
            statuses.record(tx, update)
    with caplog.at_level(logging.WARNING, logger=HINT_LOGGER):
        run_sender(app)  # the next run's periodic check finds them
    assert len(hint_warnings(caplog, broadcast_id)) == 1


def test_no_hint_without_failures_that_have_one(app, citizen, twilio_api, caplog):
    people = subscribe(citizen, 2)
    twilio_api.recipient_errors[people[0].number] = (400, 63003)
    broadcast_id = broadcast(app)
    with caplog.at_level(logging.WARNING, logger=HINT_LOGGER):
        run_sender(app)
    assert broadcasts.get(database(app).conn, broadcast_id)["errors"] == {"63003": 1}
    assert not [r for r in caplog.records if TEMPLATE_HINT in r.getMessage()]


def test_a_stop_that_comes_between_claim_and_send_wins(app, citizen, twilio_api):
    """The second citizen's delivery is claimed with the first's, in one batch; the Stop comes
    while the first send is still waiting for its answer. The sender must read the recipient
    right before sending, not when it claimed the batch."""
    import threading

    from tests.conftest import wait_for

    first, second = subscribe(citizen, 2)
    broadcast_id = broadcast(app, "Hochwasser")
    twilio_api.error_queue = [("slow", 3.0)]  # the first answer takes its time
    done = threading.Thread(target=run_sender, args=(app,), kwargs={"SEND_CONCURRENCY": 1})
    done.start()
    try:
        wait_for(lambda: twilio_api.requests == 1, timeout=10, interval=0.01,
                 message="the first send under way")
        assert rows(app, "SELECT count(*) FROM deliveries WHERE state = 'sending'") == [(2,)], \
            "both deliveries were claimed before the Stop"
        assert second.send("Stop").status_code == 200
    finally:
        done.join(60)
    assert [m["To"] for m in twilio_api.messages] == [f"whatsapp:{first.number}"]
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["counts"]["skipped"] == 1 and final["counts"]["sent"] == 1
