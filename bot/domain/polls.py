"""Polls: what a broadcast's answers may be, the buttons they go out as, a tap counted, and
closing a poll.

A poll is a broadcast with two or three short answers. They go out as quick-reply buttons
whose payload names the broadcast and the answer (``poll:<broadcast id>:<answer number>``);
the same answers serve every language the broadcast goes out in (they are short, and the
results must add up across languages). A poll carries no picture: the approved quick-reply
templates have a text body, and the answers belong next to the question.
"""

import re
import time

from ..store import audit, broadcasts, polls, subscribers
from ..store.db import write
from ..wording import TEXTS

MOST_ANSWERS, FEWEST_ANSWERS = 3, 2
# WhatsApp's limit for a reply button's title.
ANSWER_LIMIT = 20
# A poll's approved quick-reply template holds in its body of 1,024 characters the text, the
# answers (WhatsApp approves no variable in a button's title, so they stand in the body) and
# its own words: 200 are left for up to three answers and those words.
BODY_LIMIT = 1024
TEXT_LIMIT = BODY_LIMIT - 200
_PAYLOAD = re.compile(r"poll:([0-9]{1,18}):([1-9])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class InvalidAnswers(ValueError):
    """The answers cannot make a poll; the message says why, in plain words."""


def check_answers(value):
    """The ``answers`` of a broadcast request → a list of texts ([] for no poll)."""
    if value in (None, []):
        return []
    if not isinstance(value, list) or not all(isinstance(answer, str) for answer in value):
        raise InvalidAnswers("answers must be a list of two or three texts")
    answers = [" ".join(answer.split()) for answer in value]
    if not FEWEST_ANSWERS <= len(answers) <= MOST_ANSWERS:
        raise InvalidAnswers(f"a poll has two or three answers, not {len(answers)}")
    for number, answer in enumerate(answers, 1):
        if not answer:
            raise InvalidAnswers(f"answer {number} is empty")
        if len(answer) > ANSWER_LIMIT:
            raise InvalidAnswers(f"answer {number} is {len(answer)} characters; a WhatsApp "
                                 f"button holds at most {ANSWER_LIMIT}")
        if _CONTROL.search(answer) or re.search("[\ud800-\udfff]", answer):
            raise InvalidAnswers(f"answer {number} holds a control character")
    if len({answer.casefold() for answer in answers}) != len(answers):
        raise InvalidAnswers("the answers must differ from each other")
    return answers


def check_sendable(answers, fields, settings, demo):
    """Whether a poll of ``answers`` can go out as configured: no picture, a text within
    WhatsApp's limit, and in production the approved quick-reply template for as many answers
    (POLL_CONTENT_SID on Twilio, META_POLL_TEMPLATE on Meta). Raises InvalidAnswers."""
    if not answers:
        return
    if fields.get("media_url"):
        raise InvalidAnswers("a poll goes out without a picture: send the picture as a "
                             "broadcast of its own")
    for name, text in [("text", fields["text"])] + [
            (f"translations.{code}", text) for code, text in fields["translations"].items()]:
        if len(text) > TEXT_LIMIT:
            raise InvalidAnswers(f"{name} is {len(text)} characters; a poll's text holds at "
                                 f"most {TEXT_LIMIT}")
    if demo:
        return
    meta = settings.get("WHATSAPP_PLATFORM") == "meta"
    setting = "META_POLL_TEMPLATE" if meta else "POLL_CONTENT_SID"
    templates = settings.get("META_POLL_TEMPLATES" if meta else "POLL_CONTENT_SIDS") or {}
    if len(answers) not in templates.get(None, {}):
        raise InvalidAnswers(
            f"a poll of {len(answers)} answers needs its approved quick-reply template: set "
            f"{setting} to {len(answers)}=<{'its name' if meta else 'its content SID'}> "
            "(README, Polls)")


def buttons(broadcast_id, answers):
    """The quick-reply buttons of a poll: ((payload, title), …)."""
    return tuple((f"poll:{broadcast_id}:{number}", answer)
                 for number, answer in enumerate(answers, 1))


def parse_payload(payload):
    """(broadcast id, answer index) of a poll button's payload; None for any other."""
    match = _PAYLOAD.fullmatch(payload or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)) - 1


def answer_text(texts, outcome, language):
    """What a tap that came to ``outcome`` is answered with (None: nothing)."""
    key = {polls.FIRST: "poll_thanks", polls.CLOSED_NOTICE: "poll_closed"}.get(outcome)
    if key is None:
        return None
    # A language of the operator's own, written before polls existed, may lack these.
    return (texts.messages.get(texts.language_of(language), {}).get(key)
            or texts.messages[texts.main].get(key) or TEXTS["de"][key])


def tap(conn, texts, voter, broadcast_id, answer):
    """A citizen's tap on a poll's answer, inside the caller's write transaction: counted
    (once per citizen, the latest tap), thanked the first time; on a closed poll, told so once.
    Returns the answer's text, or None for nothing to say."""
    subscriber = subscribers.find(conn, voter)
    outcome = polls.vote(conn, broadcast_id, answer, voter, subscriber.id if subscriber else None)
    return answer_text(texts, outcome, subscriber.language if subscriber else None)


def typed_answer(conn, voter, replied_to, body):
    """Whether a citizen's typed message answers a poll (a quote of it, or one of the answers
    of a poll they got in the last 24 hours): no vote, since only a tap counts, and no request
    either, so no notice."""
    subscriber = subscribers.find(conn, voter)
    return polls.typed_reply(conn, subscriber.id if subscriber else None, replied_to, body,
                             time.time())


def close(database, broadcast_id, actor):
    """Close the poll: later taps no longer count. Raises BroadcastNotFound (from the
    broadcast's row), polls.NotAPoll, polls.AlreadyClosed."""
    with write(database) as conn:
        broadcasts.status_of(conn, broadcast_id)  # BroadcastNotFound
        polls.close(conn, broadcast_id)
        results = polls.results(conn, broadcast_id)
        audit.record(conn, actor, "poll_closed", f"broadcast:{broadcast_id}",
                     {"votes": results["votes"]})
    return results
