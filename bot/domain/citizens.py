"""One citizen message, handled once: keyword, deduplication, subscription, reply.

The webhook and demo mode's citizen simulator both come through ``handle``, so the simulator
shows exactly what a citizen on WhatsApp would get.
"""

from dataclasses import dataclass

from ..store import inbound, outbox, subscribers
from ..store.db import write


@dataclass(frozen=True)
class Channel:
    """What handling a message needs of the deployment, assembled once at start."""

    vault: object
    texts: object
    notice_window_seconds: float
    demo: bool  # replies also land in the local outbox


def handle(database, channel, e164, body, message_id):
    """The reply text for a citizen's message, or None (a replay, or nothing to say)."""
    action, language = channel.texts.classify(body)
    phone_hash = channel.vault.hash(e164)
    keyword = (body or "").strip()[:40] if action else None
    # Encrypt before taking the write lock: every other webhook waits while it is held.
    phone_enc = channel.vault.encrypt(e164) if action == "start" else None

    with write(database) as conn:
        if not inbound.record_inbound(conn, message_id):
            return None
        reply = _reply(conn, channel, action, language, phone_hash, keyword, message_id,
                       phone_enc)
        if reply and channel.demo:
            outbox.add(conn, e164, phone_hash, reply, "reply")
    return reply


def _reply(conn, channel, action, language, phone_hash, keyword, message_id, phone_enc):
    texts = channel.texts
    if action == "start":
        result = subscribers.subscribe(conn, phone_hash, phone_enc, keyword, message_id)
        return texts.get("welcome" if result == subscribers.NEW else "already_subscribed",
                         language)
    if action == "stop":
        result = subscribers.unsubscribe(conn, phone_hash, keyword, message_id)
        return texts.get("goodbye" if result == subscribers.REMOVED else "not_subscribed",
                         language)
    if action == "help":
        return texts.get("help", language)
    if not inbound.claim_notice(conn, phone_hash, channel.notice_window_seconds):
        return None
    notice = texts.get("notice", language)
    if not subscribers.is_subscribed(conn, phone_hash):
        notice += texts.get("notice_join", language)
    return notice
