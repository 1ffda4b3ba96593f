"""Whose draft is whose: who may change or throw away a draft, and how a change by someone
other than its author is marked.

- An editor changes and discards only what they wrote themselves (``created_by`` is
  ``console:`` and their name). What a colleague wrote is the colleague's, or a publisher's.
- A relayed official warning's draft (written by the warnings relay) is changed only by a
  publisher or an admin: it keeps the authority's source badge, so its text must not be
  anyone's to rewrite.
- Publishers and admins may change any draft; the API's token and the operator's commands are
  the operator's machines and hold every right (they may send without approval anyway).

A change by anyone but the author is marked on the broadcast (``edited_by``) and named in the
audit entry, so that a relayed warning's page never passes an edited text off as the
authority's own.
"""

from ..store import audit

# Actors that are not accounts and have no role: the operator's own machines.
MACHINES = (audit.API, audit.CLI)
CONSOLE_PREFIX = "console:"


class ForeignDraft(Exception):
    """The account may not change this draft; the message is the draft's ``created_by``."""


def author(created_by):
    """The name of whoever wrote a broadcast (an account name, ``nina``, ``api``…)."""
    return (created_by or audit.API).removeprefix(CONSOLE_PREFIX)


def relayed(created_by):
    return created_by == audit.NINA


def may_change(created_by, actor, publishes):
    """Whether ``actor`` (an account, ``publishes`` when its role is publisher or above; or one
    of the machines) may change or discard a draft written by ``created_by``. The role is the
    caller's to read: accounts are the console's, and the send loop, which relays warnings
    through this layer, loads nothing of them."""
    if actor in MACHINES or publishes:
        return True
    return created_by == CONSOLE_PREFIX + actor


def check(created_by, actor, publishes):
    """Raises ForeignDraft unless ``actor`` may change the draft."""
    if not may_change(created_by, actor, publishes):
        raise ForeignDraft(created_by or "")


def mark(created_by, actor):
    """The ``edited_by`` a change by ``actor`` leaves on a draft: the actor, when it is not the
    author; None for an author's own change."""
    return None if author(created_by) == actor else actor
