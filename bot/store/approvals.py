"""Broadcasts held for a decision, and changed after they were written: approval asked for,
given or refused; a planned broadcast edited; a broadcast kept off (or put back on) the public
page. The rows are those of ``store.broadcasts``; who may do which is for the domain and the
web to say.
"""

import json

from . import audience, broadcasts
from .broadcasts import WrongStatus
from .. import vocabulary
from .db import now_iso


def request_approval(conn, broadcast_id, account):
    """A draft waits for a publisher's approval; returns how many it would reach now."""
    broadcasts.check_draft(conn, broadcast_id)
    recipients = broadcasts.would_reach(conn, broadcast_id)
    conn.execute("UPDATE broadcasts SET status = ?, requested_by = ?, requested_at = ?, "
                 "recipients = ? WHERE id = ?",
                 (broadcasts.AWAITING, account, now_iso(), recipients, broadcast_id))
    return recipients


def requested_by(conn, broadcast_id):
    """(status, the account that asked for approval) of a broadcast."""
    return broadcasts.columns(conn, broadcast_id, ("status", "requested_by"))


def approve(conn, broadcast_id, account):
    """An approved broadcast goes out (or is scheduled); returns (status, recipients)."""
    status = broadcasts.status_of(conn, broadcast_id)
    if status != broadcasts.AWAITING:
        raise WrongStatus(status)
    conn.execute("UPDATE broadcasts SET approved_by = ?, approved_at = ? WHERE id = ?",
                 (account, now_iso(), broadcast_id))
    return broadcasts.release(conn, broadcast_id)


def return_to_draft(conn, broadcast_id):
    """Not approved (or taken back by who asked): a draft again, to change and ask again."""
    status = broadcasts.status_of(conn, broadcast_id)
    if status != broadcasts.AWAITING:
        raise WrongStatus(status)
    conn.execute("UPDATE broadcasts SET status = ?, requested_by = NULL, requested_at = NULL, "
                 "recipients = 0 WHERE id = ?", (broadcasts.DRAFT, broadcast_id))


def edit_scheduled(conn, broadcast_id, fields, awaiting_approval_of=None, edited_by=None):
    """Change a broadcast that is planned and has not started: its text, picture, times and
    urgency (``fields``, checked by the domain). With ``awaiting_approval_of`` it waits for
    approval again, since what was approved is not what will go out; ``edited_by``: who
    changed what someone else wrote (kept, with the time). Returns its status."""
    status = broadcasts.status_of(conn, broadcast_id)
    if status != "scheduled" and not held_too_long(conn, broadcast_id):
        raise WrongStatus(status)
    if status != "scheduled":
        # Held at its time for a text too long: changed, it is planned (or goes out) again,
        # as a planned one edited then would.
        conn.execute("UPDATE broadcasts SET status = 'scheduled', pause_reason = NULL, "
                     "resume_at = NULL WHERE id = ?", (broadcast_id,))
        status = "scheduled"
    topics = broadcasts.columns(conn, broadcast_id, ("topics",))[0]
    recipients = audience.count(conn, fields["urgent"], json.loads(topics) if topics else ())
    conn.execute(
        "UPDATE broadcasts SET text = ?, media_url = ?, send_at = ?, expires_at = ?, "
        "urgent = ?, recipients = ? WHERE id = ?",
        (fields["text"], fields["media_url"], fields["send_at"], fields["expires_at"],
         int(bool(fields["urgent"])), recipients, broadcast_id))
    if edited_by:
        conn.execute("UPDATE broadcasts SET edited_by = ?, edited_at = ? WHERE id = ?",
                     (edited_by, now_iso(), broadcast_id))
    if awaiting_approval_of:
        conn.execute("UPDATE broadcasts SET status = ?, requested_by = ?, requested_at = ?, "
                     "approved_by = NULL, approved_at = NULL WHERE id = ?",
                     (broadcasts.AWAITING, awaiting_approval_of, now_iso(), broadcast_id))
        return broadcasts.AWAITING
    if fields["send_at"] is None or fields["send_at"] <= now_iso():
        return broadcasts.release(conn, broadcast_id)[0]
    return status


def held_too_long(conn, broadcast_id):
    """Whether the broadcast was paused at its time for a text over the limit, before it
    started: it may be changed as a planned one."""
    status, reason = broadcasts.columns(conn, broadcast_id, ("status", "pause_reason"))
    return (status == "paused" and (reason or "").startswith(vocabulary.PAUSE_TEXT_TOO_LONG)
            and not broadcasts.started(conn, broadcast_id))


def set_public(conn, broadcast_id, public):
    """Show a broadcast in the public archive and feed, or not; returns whether it was."""
    before = broadcasts.columns(conn, broadcast_id, ("public",))[0]
    conn.execute("UPDATE broadcasts SET public = ? WHERE id = ?", (int(bool(public)),
                                                                  broadcast_id))
    return bool(before)


def mark_over_budget(conn, broadcast_id, over=True):
    """Whether the broadcast goes (or waits to go) beyond the monthly budget, as last judged:
    the console marks it. Written at every judgement, so that a mark never outlives it."""
    conn.execute("UPDATE broadcasts SET over_budget = ? WHERE id = ?", (int(bool(over)),
                                                                       broadcast_id))
