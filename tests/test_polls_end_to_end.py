"""A poll end to end, on each platform: the Procfile's web process (gunicorn) and worker, a real
SQLite file, the platform's fake (tests/fake_twilio.py with the real twilio client, holding the
quick-reply content's rules; tests/fake_meta.py, holding the quick-reply template's), and taps
posted as the platform posts them, signed.

One deployment per platform for the module; its tests run in the order written: the poll goes
out, taps are counted once per citizen and replaced, a typed "Ja" is nothing, the poll is
closed and a later tap is told so once, the results are in the API throughout.
"""

import json

import pytest

from bot.platforms import meta
from tests import fake_meta
from tests.conftest import reply_text, time_bound, wait_for
from tests.test_plan_end_to_end import Deployment, MetaSide, TwilioSide, seed, settings

TEST_SECONDS = 60
POLL_TWO, POLL_THREE = "HX" + "7" * 32, "HX" + "8" * 32
QUESTION = "Soll die Bücherei auch sonntags öffnen?"
ANSWERS = ["Ja", "Nein", "Egal"]
PEOPLE = [f"+49155{n:08d}" for n in range(4)]
HELP_BEGINS = "Infokanal von"


class TwilioPolls(TwilioSide):
    """Twilio: the poll's quick-reply contents; a tap's answer comes in the webhook's TwiML."""

    def __init__(self, web_url):
        super().__init__(web_url)
        self.fake.quick_replies.update({POLL_TWO: 2, POLL_THREE: 3})
        self.env["POLL_CONTENT_SID"] = f"2={POLL_TWO},3={POLL_THREE}"

    def polls_sent(self):
        return [dict(to=m["To"].removeprefix("whatsapp:"), **{
            "variables": json.loads(m["ContentVariables"])})
            for m in list(self.fake.messages) if m.get("ContentSid") == POLL_THREE]

    def tap(self, web, number, broadcast_id, answer):
        response = web.citizen(number).send(
            ANSWERS[answer - 1], MessageType="button", ButtonText=ANSWERS[answer - 1],
            ButtonPayload=f"poll:{broadcast_id}:{answer}")
        assert response.status_code == 200, response.text
        return reply_text(response.text)

    def types(self, web, number, text):
        response = web.citizen(number).send(text)
        assert response.status_code == 200, response.text
        return reply_text(response.text)


class MetaPolls(MetaSide):
    """Meta: the poll's quick-reply templates (three body parameters and two buttons, four and
    three); a tap's answer is sent by the worker through the API, so the fake's record has it.
    That a tap got no answer shows in the order of answers: a citizen's answers go out one
    after another, so the help text asked for next comes first."""

    def __init__(self, web_url):
        self.fake = fake_meta.FakeMeta(
            webhook_url=web_url + meta.WEBHOOK_PATH, templates={
                fake_meta.TEMPLATE: {"language": "de", "parameters": 1},
                "umfrage_2": {"language": "de", "parameters": 3, "buttons": 2},
                "umfrage_3": {"language": "de", "parameters": 4, "buttons": 3}}).start()
        self.env = {"WHATSAPP_PLATFORM": "meta", "META_ACCESS_TOKEN": fake_meta.ACCESS_TOKEN,
                    "META_PHONE_NUMBER_ID": fake_meta.PHONE_NUMBER_ID,
                    "META_APP_SECRET": fake_meta.APP_SECRET,
                    "META_VERIFY_TOKEN": "test-meta-verify-token-not-a-real-one",
                    "META_API_URL": self.fake.url, "META_TEMPLATE": fake_meta.TEMPLATE,
                    "META_DISPLAY_PHONE_NUMBER": "+" + fake_meta.DISPLAY_PHONE_NUMBER,
                    "META_POLL_TEMPLATE": "2=umfrage_2,3=umfrage_3"}

    def polls_sent(self):
        return [dict(to="+" + m["to"], parameters=m["parameters"], payloads=m["buttons"])
                for m in list(self.fake.messages) if m["template"] == "umfrage_3"]

    def _answer_then_help(self, number, **message):
        digits = number.lstrip("+")
        seen = len(self.fake.sent_to(digits))
        assert self.fake.post_inbound(digits, **message) == 200
        assert self.fake.post_inbound(digits, "Hilfe") == 200
        answers = wait_for(
            lambda: (new := [m["text"] for m in self.fake.sent_to(digits)[seen:]])
            and new[-1].startswith(HELP_BEGINS) and new, timeout=15,
            message="the answer to Hilfe")
        assert len(answers) <= 2, answers
        return answers[0] if len(answers) == 2 else None

    def tap(self, web, number, broadcast_id, answer):
        poll = next(m["id"] for m in self.fake.sent_to(number.lstrip("+"))
                    if m["template"] == "umfrage_3")
        return self._answer_then_help(number, text=ANSWERS[answer - 1], kind="button",
                                      payload=f"poll:{broadcast_id}:{answer}", replied_to=poll)

    def types(self, web, number, text):
        return self._answer_then_help(number, text=text)


@pytest.fixture(scope="module", params=[TwilioPolls, MetaPolls], ids=["twilio", "meta"])
def county(request, tmp_path_factory):
    env, side = settings(tmp_path_factory.mktemp(request.param.name), request.param)
    seed(env, [(number, None, None) for number in PEOPLE])
    deployment = Deployment(env, side)
    deployment.poll = {}
    yield deployment
    deployment.stop()


@pytest.fixture(autouse=True)
def bounded():
    with time_bound(TEST_SECONDS):
        yield


def results(county):
    return county.get(county.poll["id"])["poll"]


def votes(county):
    return [answer["votes"] for answer in results(county)["answers"]]


def test_the_poll_goes_out_as_quick_reply_buttons(county):
    answer = county.post(text=QUESTION, answers=ANSWERS)
    county.poll.update(answer)
    county.wait_status(answer["id"], "done")
    sent = county.side.polls_sent()
    assert sorted(m["to"] for m in sent) == sorted(PEOPLE)
    payloads = [f"poll:{answer['id']}:{n}" for n in (1, 2, 3)]
    if county.side.name == "twilio":
        assert sent[0]["variables"] == {"1": QUESTION, **{str(n + 2): a for n, a in
                                                          enumerate(ANSWERS)},
                                        **{str(n + 5): p for n, p in enumerate(payloads)}}
        assert not county.side.fake.refused
    else:
        assert sent[0]["parameters"] == [QUESTION, *ANSWERS]
        assert sent[0]["payloads"] == payloads
    assert results(county) == {"answers": [{"text": a, "votes": 0, "percent": 0}
                                           for a in ANSWERS], "votes": 0, "closed_at": None}


def test_taps_count_once_per_citizen_and_a_later_tap_replaces_the_earlier(county):
    side, web, broadcast_id = county.side, county.web, county.poll["id"]
    anna, ben, cem, _ = PEOPLE
    assert side.tap(web, anna, broadcast_id, 1) == "Danke, Ihre Antwort ist gezählt."
    assert side.tap(web, anna, broadcast_id, 1) is None
    assert side.tap(web, ben, broadcast_id, 2) == "Danke, Ihre Antwort ist gezählt."
    assert votes(county) == [1, 1, 0]
    assert side.tap(web, anna, broadcast_id, 3) is None
    assert side.tap(web, cem, broadcast_id, 3) == "Danke, Ihre Antwort ist gezählt."
    assert votes(county) == [0, 1, 2]
    assert results(county)["votes"] == 3


def test_a_typed_answer_is_no_vote_and_draws_no_notice(county):
    dora = PEOPLE[3]
    assert county.side.types(county.web, dora, "Ja") is None
    assert results(county)["votes"] == 3


def test_a_closed_poll_counts_no_more_and_says_so_once(county):
    side, web, broadcast_id = county.side, county.web, county.poll["id"]
    closed = county.api("POST", f"/api/broadcasts/{broadcast_id}/poll/close")
    assert closed.status_code == 200, closed.text
    assert closed.json()["poll"]["closed_at"]
    dora, anna = PEOPLE[3], PEOPLE[0]
    assert side.tap(web, dora, broadcast_id, 1) == "Die Umfrage ist beendet."
    assert side.tap(web, dora, broadcast_id, 2) is None
    assert side.tap(web, anna, broadcast_id, 1) == "Die Umfrage ist beendet."
    assert votes(county) == [0, 1, 2]
    assert county.api("POST", f"/api/broadcasts/{broadcast_id}/poll/close").status_code == 409
