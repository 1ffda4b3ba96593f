"""The sender's parts that need no processes: error classes, backoff, the rate limiter."""

import asyncio
import time
from collections import Counter

import pytest
from twilio.base.exceptions import TwilioRestException

from bot.platforms import twilio as gateway
from bot import vocabulary as v
from bot.delivery.pacing import TokenBucket, backoff
from bot.http_client import HttpError


def rest_error(status, code):
    return TwilioRestException(status, "https://api.twilio.com/x", "msg", code)


@pytest.mark.parametrize("status,code,kind", [
    (429, 20429, v.THROTTLED),
    (429, None, v.THROTTLED),
    (500, 20500, v.UNKNOWN),
    (503, None, v.UNKNOWN),
    (401, 20003, v.CREDENTIALS),
    (400, 21211, v.INVALID_NUMBER),
    (400, 63003, v.NOT_ON_WHATSAPP),
    (400, 63024, v.INVALID_NUMBER),
    (400, 63016, v.TEMPLATE_NEEDED),
    (400, 21610, v.OPTED_OUT),
    (429, 63018, v.MESSAGING_LIMIT),
    (400, 99999, v.REJECTED),
])
def test_twilio_errors_are_classified_once(status, code, kind):
    error = gateway.classify(rest_error(status, code))
    assert error.kind == kind
    assert error.code == (code or status)


@pytest.mark.parametrize("exc", [HttpError("the connection closed before the answer"),
                                 asyncio.TimeoutError(), ConnectionResetError("reset")])
def test_dropped_connections_and_timeouts_are_unknown_outcomes(exc):
    assert gateway.classify(exc).kind == v.UNKNOWN


def test_programming_errors_are_not_swallowed():
    assert gateway.classify(KeyError("x")) is None


def test_backoff_grows_and_is_capped():
    assert 0.8 <= backoff(1) <= 1.2
    assert backoff(4) > backoff(2)
    assert backoff(50) <= 120 * 1.2


@pytest.mark.parametrize("status,expected", [
    ("queued", ("sent", 1)), ("sent", ("sent", 2)), ("delivered", ("delivered", 3)),
    ("read", ("read", 4)), ("undelivered", ("failed", 9)), ("failed", ("failed", 9)),
])
def test_status_callbacks_map_into_a_ranked_vocabulary(status, expected):
    update = gateway.parse_status({"MessageSid": "SM1", "MessageStatus": status,
                                   "ErrorCode": "63024"})
    assert (update.status, update.rank) == expected
    assert (update.error_code == "63024") == (expected[0] == "failed")


def test_unknown_statuses_are_ignored():
    assert gateway.parse_status({"MessageSid": "SM1", "MessageStatus": "teleported"}) is None
    assert gateway.parse_status({"MessageStatus": "sent"}) is None


def test_rate_limiter_never_exceeds_its_rate_in_any_second():
    rate = 300

    async def run():
        bucket = TokenBucket(rate)
        stamps = []
        end = time.monotonic() + 2.2
        while time.monotonic() < end:
            await bucket.take()
            stamps.append(time.monotonic())
        return stamps

    stamps = asyncio.run(run())
    start = stamps[0]
    # Every one-second window, sliding by 50 ms, holds at most the rate plus the small burst.
    worst = max(sum(1 for s in stamps if t0 <= s < t0 + 1)
                for t0 in (start + i * 0.05 for i in range(25)))
    assert worst <= rate * 1.05
    per_second = Counter(int(s - start) for s in stamps)
    assert per_second[0] >= rate * 0.9, "and it does reach the rate"


def test_time_a_held_up_sender_lost_is_made_up_and_no_second_holds_more_than_the_rate():
    rate = 400

    async def run():
        bucket = TokenBucket(rate)
        stamps = []
        start = time.monotonic()
        while time.monotonic() - start < 3.0:
            await bucket.take()
            stamps.append(time.monotonic())
            if len(stamps) % 200 == 0:
                # The loop held up for a tenth of a second (a slow claim, a platform slow to
                # answer, a busy machine) every half second's worth of sends.
                time.sleep(0.1)
        return stamps

    stamps = asyncio.run(run())
    # Every one-second window (starting at each send) holds at most the rate, counted; the
    # 2 ms allow for the stamps being taken just after each take returned.
    ahead = 0
    worst = 0
    for index, stamp in enumerate(stamps):
        while ahead < len(stamps) and stamps[ahead] < stamp + 0.998:
            ahead += 1
        worst = max(worst, ahead - index)
    assert worst <= rate
    # And the hold-ups cost nothing: the rate is kept over the whole run. Without making
    # them up, each lost 0.08 s of every 0.58 s (86 % of the rate).
    achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert achieved >= rate * 0.93, f"{achieved:.0f} a second of {rate}"


@pytest.mark.parametrize("form", [
    {"To": "whatsapp:+4915100001234", "From": "whatsapp:+4930901820",
     "Body": "Orkanböen & Starkregen = 100 %+ Gefahr", "StatusCallback":
     "https://kreis.example/twilio/status?x=1&y=ä"},
    {"To": "whatsapp:+4915100001235", "From": "whatsapp:+4930901820", "Body": "Bild",
     "MediaUrl": ["https://kreis.example/media/a b.jpg", "https://kreis.example/ü"]},
    {"To": "whatsapp:+4915100001236", "ContentSid": "HX" + "0" * 32,
     "ContentVariables": '{"1": "Straße gesperrt: B74 \\u00fc"}', "Attempt": 3, "Empty": ""},
    {},
])
def test_a_sends_form_is_encoded_as_urlencode_would_and_the_recipient_is_not_kept(form):
    from urllib.parse import urlencode

    gateway._quoted.cache_clear()
    assert gateway.form_body(form) == urlencode(form, doseq=True)
    assert gateway.form_body(form) == urlencode(form, doseq=True)  # from what was kept
    # Every name and every value is kept, quoted, except the recipient: the sender keeps no
    # list of the numbers it sent to.
    items = [str(item) for name, value in form.items() if name != "To"
             for item in (value if isinstance(value, list) else [value])]
    assert gateway._quoted.cache_info().currsize == len(set(form) | set(items))


def test_priority_takes_get_the_next_tokens_before_any_ordinary_one():
    rate = 200

    async def run():
        bucket = TokenBucket(rate)
        order = []

        async def ordinary():
            while len(order) < 200:
                await bucket.take()
                order.append("broadcast")

        async def answer():
            await bucket.take(priority=True)
            order.append("answer")

        broadcast = asyncio.create_task(ordinary())
        while len(order) < 50:
            await asyncio.sleep(0.005)
        asked = len(order)
        await asyncio.gather(*(answer() for _ in range(20)))
        await broadcast
        return order, asked

    order, asked = asyncio.run(run())
    answered = [i for i, who in enumerate(order) if who == "answer"]
    assert len(answered) == 20
    # At most the take already under way when they asked goes first; then the answers, all.
    assert answered[0] <= asked + 1 and answered[-1] - answered[0] == 19
