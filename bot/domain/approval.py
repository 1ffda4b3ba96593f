"""The four-eyes rule: with ``APPROVAL_REQUIRED``, a broadcast the press office composes goes
out only after a publisher other than the one who asked approves it.

- ``APPROVAL_REQUIRED=1``: every broadcast from the console, except urgent ones: at night there
  may be nobody else to ask. ``all``: urgent ones too. Off (the default): publishers send
  themselves.
- Editors never send. What they write waits for a publisher's approval, whatever the setting;
  with the setting off, any publisher may give it.
- The API's token and the operator's commands are machines, not persons: nothing they send
  waits for approval. The warnings relay's drafts wait only when a person sends them.
- Over the monthly budget (``budget``), a broadcast waits for an admin: only an admin may
  approve it, whoever asked.
"""

import hashlib
import json

from .. import config
from ..store import approvals, audit, broadcasts, users
from ..store.db import write
from . import announcements, budget

# Everything that decides what citizens get, and when, and what the public page shows: an
# approval is for exactly these, as the approver saw them.
VERSION_FIELDS = ("text", "media_url", "urgent", "send_at", "expires_at", "topics",
                  "translations", "public")


class SelfApproval(Exception):
    """Who asked for approval cannot give it: it needs a second person."""


class AdminNeeded(Exception):
    """The broadcast would take the month over its budget: only an admin may approve it."""


class VersionMissing(Exception):
    """An approval that does not say which version of the broadcast it is for."""


class VersionChanged(Exception):
    """The broadcast changed after the approver opened it: what they saw is not what would go
    out."""


def version(broadcast):
    """The digest of a broadcast's content (``VERSION_FIELDS``, of ``broadcasts.get``): the
    approve form carries it, and approving compares it with the broadcast's digest then.
    Pictures we store are named by their bytes' hash, so their URL binds the picture too."""
    content = {name: broadcast[name] for name in VERSION_FIELDS}
    content["urgent"] = bool(content["urgent"])
    content["public"] = bool(content["public"])
    content["topics"] = list(content["topics"] or [])
    content["translations"] = dict(content["translations"] or {})
    encoded = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()


def required(settings, urgent):
    """Whether a publisher's broadcast must wait for a second publisher."""
    mode = settings["APPROVAL_REQUIRED"]
    return mode == config.APPROVAL_ALL or (mode == config.APPROVAL_ON and not urgent)


def must_wait(settings, role, urgent):
    """Whether a broadcast sent by an account with ``role`` waits for approval first."""
    return not users.at_least(role, users.PUBLISHER) or required(settings, urgent)


def request(database, broadcast_id, actor, settings=None):
    """A draft waits for approval, asked for by ``actor``; with ``settings``, one over the
    monthly budget is marked so (and waits for an admin). Raises NotADraft."""
    with write(database) as conn:
        recipients = approvals.request_approval(conn, broadcast_id, actor)
        current = broadcasts.get(conn, broadcast_id)
        if settings:
            found = budget.verdict(conn, settings, current["urgent"], current["topics"],
                                   send_at=current["send_at"])
            approvals.mark_over_budget(conn, broadcast_id, budget.over(found))
        else:
            found = None
        audit.record(conn, actor, "broadcast_approval_requested", f"broadcast:{broadcast_id}",
                     announcements.summary(current, recipients=recipients,
                                           **budget.details(found)))
    return recipients


def approve(database, broadcast_id, actor, settings, seen, role=users.PUBLISHER):
    """``actor`` (a publisher; ``role`` its role) approves the version ``seen`` (``version``
    of the broadcast as they saw it): the broadcast goes out, or is scheduled. Returns
    (status, recipients). Raises WrongStatus, SelfApproval, AdminNeeded (over the budget, as
    the month stands now), VersionMissing, VersionChanged, InvalidBroadcast."""
    with write(database, durable=True) as conn:
        status, asked_by = approvals.requested_by(conn, broadcast_id)
        if status != broadcasts.AWAITING:
            raise broadcasts.WrongStatus(status)
        current = broadcasts.get(conn, broadcast_id)
        if asked_by == actor and settings["APPROVAL_REQUIRED"] != config.APPROVAL_OFF:
            raise SelfApproval(actor)
        # Compared in the transaction that releases it: no change can come in between.
        if not seen:
            raise VersionMissing(broadcast_id)
        if seen != version(current):
            raise VersionChanged(broadcast_id)
        found = budget.verdict(conn, settings, current["urgent"], current["topics"],
                               send_at=current["send_at"])
        if budget.needs_admin(found, current["urgent"], current["created_by"],
                              users.at_least(role, users.ADMIN)):
            raise AdminNeeded(broadcast_id)
        # The text and translations are checked again: the mode's limit may have changed
        # while it waited.
        announcements.check_stored(current, settings)
        try:
            status, recipients = approvals.approve(conn, broadcast_id, actor)
        except broadcasts.Expired:
            raise announcements.InvalidBroadcast(
                "expires_at has passed: the broadcast can no longer go out") from None
        approvals.mark_over_budget(conn, broadcast_id, budget.over(found))
        audit.record(conn, actor, "broadcast_approved", f"broadcast:{broadcast_id}",
                     announcements.summary(current, status=status, recipients=recipients,
                                           requested_by=asked_by, **budget.details(found)))
    return status, recipients


def reject(database, broadcast_id, actor):
    """Not approved, or taken back by who asked: a draft again. Raises WrongStatus."""
    with write(database) as conn:
        _, asked_by = approvals.requested_by(conn, broadcast_id)
        approvals.return_to_draft(conn, broadcast_id)
        audit.record(conn, actor, "broadcast_withdrawn" if actor == asked_by
                     else "broadcast_rejected", f"broadcast:{broadcast_id}",
                     {"requested_by": asked_by})
