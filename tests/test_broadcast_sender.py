"""The sender in-process: the real twilio client against the fake API, a real SQLite file."""

import asyncio

from bot import broadcasts, sender
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
        worker = sender.build(config, app.extensions["infokanal"].vault, demo=False)
        # 429s back off exponentially; the test keeps the steps small, not the rule.
        worker.throttle_backoff_cap = throttle_backoff_cap
        try:
            await asyncio.wait_for(worker.run(until_idle=True), 60)
        finally:
            await worker.transport.close()
            worker.database.conn.close()
        return worker

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
