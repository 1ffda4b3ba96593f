"""Test sends ("Probeversand"): a broadcast's text, and picture, to the staff phones the
operator listed in ``TEST_RECIPIENTS``, and to nobody else. No broadcast row, no deliveries, no
counts, nothing in the public archive; one audit entry, with how many went out (the numbers
themselves are not in it).

The messages go out through whatever ``send`` the caller passes (``send(messages)`` → per
message its id or the ``SendError``): the platform, or demo mode's outbox.
"""

from ..store import audit, media
from ..store.db import write
from ..platforms.base import OutgoingMessage
from . import polls
from .announcements import summary


class NoTestRecipients(Exception):
    """TEST_RECIPIENTS is not set: there is nobody to send a test to."""


def send(database, fields, settings, actor, deliver, broadcast_id=None):
    """Send ``fields`` (checked by ``announcements.check``, or a stored broadcast) to the test
    recipients; returns [(number, error kind or None)]."""
    numbers = settings["TEST_RECIPIENT_LIST"]
    if not numbers:
        raise NoTestRecipients()
    # A poll's buttons too, as citizens will see them; a tap on them counts for nothing (the
    # staff phones are no recipients of the broadcast).
    poll = fields.get("poll")
    answers = fields.get("answers") or [answer["text"] for answer in (poll or {}).get(
        "answers", ())]
    buttons = polls.buttons(broadcast_id or 0, answers) if answers else ()
    media_type, media_filename = media.kind_of_url(database.conn, fields.get("media_url"))
    messages = [OutgoingMessage(to=number, body=fields["text"], media_url=fields.get("media_url"),
                                media_type=media_type, media_filename=media_filename,
                                buttons=buttons) for number in numbers]
    results = deliver(messages)
    failed = [result for result in results if not isinstance(result, str)]
    with write(database) as conn:
        audit.record(conn, actor, "broadcast_test_sent",
                     f"broadcast:{broadcast_id}" if broadcast_id is not None else None,
                     summary(fields, recipients=len(numbers), sent=len(numbers) - len(failed),
                             failed=len(failed)))
    return [(number, None if isinstance(result, str) else result.kind)
            for number, result in zip(numbers, results)]
