"""Demo mode's outbox reports delivered and read as the platform would, through the same path
as status callbacks, so that the counts and the console move there too."""

import asyncio

from bot import create_app
from bot.delivery import worker
from bot.store import broadcasts
from tests.conftest import (citizens_of, counts_disagreeing, database,
                            submit_broadcast)


def demo_app(config):
    return create_app({k: v for k, v in config.items() if not k.startswith("TWILIO_")})


def test_demo_messages_are_reported_delivered_and_then_read_while_the_sender_runs(config):
    app = demo_app(config)
    citizen = citizens_of(app.test_client())
    for _ in range(3):
        citizen().send("Start")
    with app.app_context():
        answer = submit_broadcast({"text": "Probealarm"}, created_by="test")
    seen = []

    async def run():
        sender = worker.build(dict(app.config), app.extensions["infokanal"].vault, demo=True)
        sender.transport.receipt_seconds = (0.2, 0.3)
        running = asyncio.create_task(sender.run())
        try:
            for _ in range(200):
                counts = broadcasts.get(sender.conn, answer["id"])["counts"]
                if not seen or counts != seen[-1]:
                    seen.append(counts)
                if counts["read"] == 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            sender.stop()
            await asyncio.wait_for(running, 30)
            await sender.transport.close()
            sender.database.conn.close()

    asyncio.run(run())
    assert seen[-1] == {"queued": 0, "sent": 0, "delivered": 0, "read": 3, "failed": 0,
                        "skipped": 0}
    # Delivered came first, read a moment later, as on WhatsApp.
    assert any(step["delivered"] and not step["read"] for step in seen)
    assert counts_disagreeing(app.config["DATABASE_PATH"]) == []


def test_what_is_still_unreported_when_the_sender_stops_is_reported_then(config):
    app = demo_app(config)
    citizen = citizens_of(app.test_client())
    for _ in range(2):
        citizen().send("Start")
    with app.app_context():
        answer = submit_broadcast({"text": "Kurz vor dem Ende"}, created_by="test")
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0

    counts = broadcasts.get(database(app).conn, answer["id"])["counts"]
    assert counts["read"] == 2 and counts["sent"] == 0
