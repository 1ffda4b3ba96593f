"""A picture broadcast goes out at SEND_RATE_LIMIT_MEDIA, through the real sender against the
fake Twilio: the platform takes pictures at a lower rate than text."""

import asyncio
import time

from bot import create_app
from bot.delivery import worker
from tests.conftest import ADMIN_TOKEN, citizens_of
from tests.test_broadcast_sender import run_sender

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def most_in_any_second(stamps):
    """The most messages in any one-second window, sliding from each message."""
    stamps = sorted(stamps)
    most, first = 0, 0
    for last, at in enumerate(stamps):
        while at - stamps[first] >= 1:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_a_picture_broadcast_never_exceeds_the_media_rate_in_any_second(config, twilio_api):
    media_rate = 40
    app = create_app(dict(config, SEND_RATE_LIMIT=200, SEND_RATE_LIMIT_MEDIA=media_rate))
    client = app.test_client()
    for _ in range(100):
        assert citizens_of(client)().send("Start").status_code == 200
    answer = client.post("/api/broadcasts", headers=AUTH, json={
        "text": "Hochwasser: Pegel Musterbach", "media_url": "https://kreis.example/pegel.jpg"})
    assert answer.status_code == 202
    started = time.time()
    run_sender(app)
    stamps = [m["received_at"] for m in twilio_api.messages]
    assert len(stamps) == 100 and all(m["MediaUrl"] for m in twilio_api.messages)
    assert most_in_any_second(stamps) <= media_rate + 1
    # And at that rate, not slower: the plan said 2.5 s to the last picture.
    assert answer.json["plan"]["seconds_to_last"] == 2.5
    assert max(stamps) - started < 2.5 * 1.5


def test_when_the_platform_says_too_many_the_pictures_are_held_too(config, twilio_api):
    """The sender's own buckets, with takers at once (as a send loop with more in flight might
    take them): a 429 holds the number's bucket, and picture tokens taken meanwhile would all
    go out together when it ends. Held with it, pictures stay under their rate."""
    media_rate = 80
    app = create_app(dict(config, SEND_RATE_LIMIT=400, SEND_RATE_LIMIT_MEDIA=media_rate))

    async def run():
        sender = worker.build(app.config, app.extensions["infokanal"].vault, demo=False)
        stamps, stop = [], time.monotonic() + 3.0

        async def taker():
            while time.monotonic() < stop:
                await sender.picture_bucket.take()
                await sender.bucket.take()
                stamps.append(time.monotonic())

        async def too_many_requests():
            await asyncio.sleep(0.5)
            sender.bucket.hold(1.2)  # as the sender does on a 429

        try:
            await asyncio.wait_for(asyncio.gather(
                *(taker() for _ in range(media_rate)), too_many_requests()), 10)
        finally:
            await sender.transport.close()
            sender.database.conn.close()
        return stamps

    stamps = asyncio.run(run())
    assert len(stamps) > media_rate  # they did send, before and after the hold
    assert most_in_any_second(stamps) <= media_rate + 1
