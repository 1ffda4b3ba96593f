"""The fake platforms hold WhatsApp's messaging limit as strictly as WhatsApp: templates reach at
most so many different people per rolling 24 hours, and someone already reached in that time
does not count again. Tested on the fakes alone, with the real twilio client and signed status
callbacks, so that a plan's ``reachable_now`` can be checked against them end to end."""

import json

import pytest
import requests
from twilio.rest import Client

from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_LIMIT
from tests.test_template_paragraphs_e2e import Callbacks

TEMPLATE = "HX" + "7" * 32
COUNTY = "whatsapp:+4930901820"


@pytest.fixture
def callbacks():
    server = Callbacks()
    yield server
    server.close()


class Clock:
    """The fake's time, moved by the test instead of waiting a day."""

    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def send(fake, callbacks, number, **content):
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = fake.url
    content = content or {"content_sid": TEMPLATE,
                          "content_variables": json.dumps({"1": "Probealarm"})}
    created = client.messages.create(to=f"whatsapp:{number}", from_=COUNTY,
                                     status_callback=callbacks.url, **content)
    assert created.status == "queued"  # the REST call takes every one: the limit comes later
    return created.sid


def outcome(callbacks, sid):
    """The last status the fake reported for a message, and its error code."""
    form = callbacks.of(sid)[-1]
    return form["MessageStatus"], form.get("ErrorCode")


def test_templates_reach_at_most_the_limit_of_different_people_per_24_hours(twilio_api,
                                                                             callbacks):
    clock = Clock()
    twilio_api.clock = clock
    twilio_api.messaging_limit = 3
    twilio_api.callbacks = ["delivered"]
    people = [f"+4915100000{n:03d}" for n in range(1, 6)]
    first = [send(twilio_api, callbacks, number) for number in people[:3]]
    assert [outcome(callbacks, sid) for sid in first] == [("delivered", None)] * 3

    clock.now += 3600
    refused = send(twilio_api, callbacks, people[3])
    assert outcome(callbacks, refused) == ("failed", str(MESSAGING_LIMIT))
    # Someone reached within the 24 hours does not count again.
    again = send(twilio_api, callbacks, people[0])
    assert outcome(callbacks, again) == ("delivered", None)
    # A free-form message inside a citizen's window is not business-initiated: no limit.
    answer = send(twilio_api, callbacks, people[4], body="Danke für Ihre Nachricht")
    assert outcome(callbacks, answer) == ("delivered", None)

    assert twilio_api.limited == [(refused, people[3])]
    assert twilio_api.reached_since() == set(people[:3])
    assert set(twilio_api.delivered) == set(first) | {again, answer}
    assert refused not in twilio_api.delivered

    # The window rolls: 24 hours after the second and third were reached, only the first (reached
    # again an hour later) still counts, so two more people may be reached, and no third.
    clock.now += 86400 - 3600 + 1
    assert twilio_api.reached_since() == {people[0]}
    later = [send(twilio_api, callbacks, number) for number in people[1:4]]
    assert [outcome(callbacks, sid) for sid in later] == [("delivered", None)] * 2 + [
        ("failed", str(MESSAGING_LIMIT))]


def test_the_limit_is_off_unless_set_and_steerable_over_http(twilio_api, callbacks):
    twilio_api.callbacks = ["delivered"]
    sids = [send(twilio_api, callbacks, f"+4915100001{n:03d}") for n in range(20)]
    assert {outcome(callbacks, sid) for sid in sids} == {("delivered", None)}

    answer = requests.post(twilio_api.url + "/_fake/config", timeout=5, json={
        "messaging_limit": 20, "messaging_limit_seconds": 3600})
    assert answer.status_code == 200
    assert (twilio_api.messaging_limit, twilio_api.messaging_limit_seconds) == (20, 3600)
    refused = send(twilio_api, callbacks, "+4915100002000")
    assert outcome(callbacks, refused) == ("failed", str(MESSAGING_LIMIT))
    stats = requests.get(twilio_api.url + "/_fake/stats", timeout=5).json()
    assert (stats["limited"], stats["reached"], stats["delivered"]) == (1, 20, 20)

    twilio_api.reset()
    assert twilio_api.messaging_limit is None and twilio_api.reached == {}
