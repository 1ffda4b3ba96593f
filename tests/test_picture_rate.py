"""A picture broadcast goes out at SEND_RATE_LIMIT_MEDIA, through the real sender against the
fake Twilio: the platform takes pictures at a lower rate than text."""

import time

from bot import create_app
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
