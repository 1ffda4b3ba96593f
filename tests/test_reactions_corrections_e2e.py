"""Reactions and corrections end to end, on each platform: the Procfile's web process (gunicorn)
and worker, a real SQLite file, the platform's fake (tests/fake_twilio.py with the real twilio
client, tests/fake_meta.py) and webhooks signed as the platform signs them.

One deployment per platform, shared by the module's tests in the order they are written:
five citizens get a broadcast (the platform reports one of its messages failed); three react,
change and take back their reactions, which are counted and never answered; then one who got
it leaves, a new citizen joins, and a correction reaches exactly the three it reached who are
still subscribed.
"""

import pytest

from tests.conftest import reply_text, time_bound, wait_for
from tests.test_plan_end_to_end import Deployment, MetaSide, TwilioSide, seed, settings

TEST_SECONDS = 90
ORIGINAL = "Die Kreisstraße 12 ist ab Montag zwischen Adorf und Bedorf gesperrt."
# Who is who: the first is sent the broadcast first, and the platform reports it failed.
FAILED, ANNA, BEN, CLEO, DORA, EMIL = (f"+49155{n:08d}" for n in range(6))


@pytest.fixture(autouse=True)
def bounded():
    with time_bound(TEST_SECONDS):
        yield


@pytest.fixture(scope="module", params=[TwilioSide, MetaSide], ids=["twilio", "meta"])
def county(request, tmp_path_factory):
    env, side = settings(tmp_path_factory.mktemp(request.param.name), request.param)
    side.report(["sent", "delivered", "read"])
    if side.name == "twilio":
        side.fake.callback_failures = [63003]  # the first message sent: FAILED's
    else:
        side.fake.recipient_failures = {FAILED.lstrip("+"): 131026}
    seed(env, [(number, None, None) for number in (FAILED, ANNA, BEN, CLEO, DORA)])
    deployment = Deployment(env, side)
    yield deployment
    deployment.stop()


def message_to(county, number, text):
    """The id of the platform's message of ``text`` to ``number``."""
    found = [m["id"] for m in county.side.messages() if m["to"] == number and m["text"] == text]
    assert len(found) == 1, found
    return found[0]


def react(county, number, message_id, emoji, shape="reaction"):
    """The citizen reacts to the message (``emoji`` None: takes the reaction back), as the
    platform posts it; nothing is answered in the webhook's response."""
    if county.side.name == "twilio":
        fields = {"OriginalRepliedMessageSid": message_id}
        if shape == "reaction":
            fields["MessageType"] = "reaction"
        response = county.web.citizen(number).send(emoji or "", **fields)
        assert response.status_code == 200 and reply_text(response.text) is None
    else:
        assert county.side.fake.post_inbound(number.lstrip("+"), kind="reaction",
                                             replied_to=message_id, emoji=emoji) == 200


def answers_to(county, number):
    """What went to the citizen that was no broadcast: the answers to them."""
    return [m for m in county.side.messages() if m["to"] == number and not m["template"]]


def test_the_broadcast_goes_out_and_one_message_fails(county):
    answer = county.post(text=ORIGINAL)
    assert answer["recipients"] == 5
    county.wait_status(answer["id"], "done")
    wait_for(lambda: county.get(answer["id"])["counts"]["failed"] == 1, timeout=30,
             message="the failure reported")
    county.original = answer["id"]


def test_reactions_are_counted_changed_and_taken_back(county):
    original = county.original
    ids = {number: message_to(county, number, ORIGINAL) for number in (ANNA, BEN, CLEO, DORA)}
    react(county, ANNA, ids[ANNA], "👍")
    react(county, BEN, ids[BEN], "👍", shape="emoji-only")
    react(county, CLEO, ids[CLEO], "❤️")
    assert county.get(original)["reactions"] == {"👍": 2, "❤️": 1}
    # A reaction to someone else's message is nobody's: not counted.
    react(county, DORA, ids[ANNA], "😡")
    react(county, ANNA, ids[ANNA], "😮")    # changed
    react(county, CLEO, ids[CLEO], None)    # taken back
    assert county.get(original)["reactions"] == {"👍": 1, "😮": 1}


def test_no_reaction_drew_the_notice(county):
    # On Twilio each webhook's answer was empty (``react``). On Meta an answer is queued for the
    # worker in the transaction that handled the message, and the row goes only once the fake
    # has taken it: a notice is in one of the two places, read in this order.
    with county.database() as conn:
        queued = conn.execute("SELECT count(*) FROM replies").fetchone()[0]
    assert queued == 0
    for number in (ANNA, BEN, CLEO, DORA):
        assert answers_to(county, number) == []
    # The notice was not spent on a reaction either: the first text gets it.
    for number in (ANNA, CLEO):
        assert "keine persönlichen Anfragen" in county.writes(number, "Wann ist frei?")


def test_a_correction_reaches_exactly_those_the_broadcast_reached(county):
    assert "abgemeldet" in county.writes(DORA, "Stop")
    assert "Willkommen" in county.writes(EMIL, "Start")
    response = county.api("POST", f"/api/broadcasts/{county.original}/correct",
                          json={"text": "Die Sperrung beginnt erst am Dienstag."})
    assert response.status_code == 202, response.text
    answer = response.json()
    # Anna, Ben and Cleo: not the one whose message failed, not Dora (left), not Emil (new).
    assert answer["recipients"] == 3
    county.wait_status(answer["id"], "done")
    got = {m["to"] for m in county.side.messages()
           if m["template"] and (m["text"] or "").startswith("Berichtigung:")}
    assert got == {ANNA, BEN, CLEO}
    texts = {m["text"] for m in county.side.messages() if m["to"] == ANNA and m["template"]}
    assert answer["text"] in texts and answer["text"].startswith(
        "Berichtigung: „Die Kreisstraße 12 ist ab Montag zwischen Adorf…“ – Die Sperrung")
    assert county.get(county.original)["corrections"] == [answer["id"]]
    # The reactions stay where they were, also after Dora left (she had none counted).
    assert county.get(county.original)["reactions"] == {"👍": 1, "😮": 1}


def test_a_correction_of_what_is_not_sent_is_refused(county):
    response = county.api("POST", "/api/broadcasts/9999/correct", json={"text": "x"})
    assert response.status_code == 404
    response = county.api("POST", f"/api/broadcasts/{county.original}/correct", json={})
    assert response.status_code == 400 and "missing or empty" in response.json()["error"]

