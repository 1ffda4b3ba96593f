"""A citizen's rights on the stored data: access (DSGVO Art. 15) and erasure (Art. 17).

``export`` gathers everything held about a number; ``erase`` removes it, except the consent
records: they prove that every message went to someone who had asked for it and that a
withdrawal was honoured (Art. 7(1), 5(2)), and they hold only the keyed hash, never the number. The daily cleanup deletes them after
``RETENTION_CONSENT_YEARS``.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

from . import polls, reactions, retention, subscribers
from .db import now_iso, to_iso, write

KEPT_REASON = (
    "Consent and withdrawal records are kept under the keyed hash only (no phone number): "
    "they prove that messages went only to people who had asked for them and that the "
    "withdrawal was honoured (Art. 7(1) and 5(2) DSGVO). The daily cleanup deletes them "
    "{years:g} years after the last record.")


@dataclass
class ErasureReport:
    was_subscribed: bool
    deliveries_unlinked: int
    notice_throttle_removed: int
    outbox_removed: int
    consent_records_kept: int
    replies_removed: int = 0  # answers still waiting for the worker (on Meta)
    reactions_unlinked: int = 0  # emoji reactions kept, counted, no longer theirs
    poll_votes_anonymised: int = 0  # still counted, no longer theirs


def export(conn, vault, e164):
    """Everything stored about one number, as a JSON-ready dict."""
    conn = getattr(conn, "conn", conn)
    phone_hash = vault.hash(e164)
    # One read transaction, so that the parts agree with each other.
    conn.execute("BEGIN")
    try:
        subscriber = conn.execute(
            "SELECT id, subscribed_at, all_topics, language, reached_at FROM subscribers "
            "WHERE phone_hash = ?", (phone_hash,)).fetchone()
        consent = _rows(conn, "SELECT action, keyword, topic, at, message_sid FROM "
                              "consent_events WHERE phone_hash = ? ORDER BY at, id", phone_hash)
        deliveries, topics = [], None
        if subscriber is not None:
            topics = "all" if subscriber[2] else [topic for (topic,) in conn.execute(
                "SELECT topic FROM subscriber_topics WHERE subscriber_id = ? ORDER BY topic",
                (subscriber[0],))]
            deliveries = _rows(
                conn,
                "SELECT d.broadcast_id, b.text AS broadcast_text, b.created_at AS broadcast_at, "
                "d.state, d.error_code, d.receipt AS delivery_status, "
                "d.receipt_at AS status_updated_at "
                "FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
                "WHERE d.subscriber_id = ? ORDER BY d.broadcast_id", subscriber[0])
        throttle = conn.execute("SELECT sent_at FROM notice_throttle WHERE phone_hash = ?",
                                (phone_hash,)).fetchone()
        outbox = _rows(conn, "SELECT kind, body, media_url, broadcast_id, created_at FROM outbox "
                             "WHERE to_hash = ? ORDER BY id", phone_hash)
        replies = _rows(conn, "SELECT body, created_at FROM replies WHERE phone_hash = ? "
                              "ORDER BY id", phone_hash)
        reacted = reactions.of_citizen(conn, phone_hash)
        votes = polls.votes_of(conn, phone_hash)
    finally:
        conn.rollback()
    # Nothing at all under the number's hash: either true, or the number was mistyped; the
    # command says so plainly instead of leaving the operator to read it from empty fields.
    nothing_stored = not (subscriber or consent or throttle or outbox or replies or reacted
                          or votes)
    return {
        "number": e164,
        "exported_at": now_iso(),
        "nothing_stored": nothing_stored,
        "stored_as": "The number itself is stored only encrypted (Fernet), and is found by a "
                     "keyed hash (HMAC-SHA256); the records below are linked to that hash.",
        "subscribed": subscriber is not None,
        "subscribed_since": subscriber[1] if subscriber else None,
        # "all": everything, also topics added later; else the topics chosen.
        "topics": topics,
        "language": (subscriber[3] or "main") if subscriber else None,
        # When the platform last took a message to the number (kept for WhatsApp's messaging
        # limit, which counts the people reached in 24 hours); once they leave, the time stays
        # a day without anything that leads back to them, so it is not theirs any more.
        "last_message_at": _iso(subscriber[4]) if subscriber and subscriber[4] else None,
        "consent_events": consent,
        "deliveries": deliveries,
        "last_auto_notice_at": throttle[0] if throttle else None,
        "demo_outbox": outbox,
        # Answers to the citizen's own messages not sent yet (kept only until they are).
        "replies_waiting": replies,
        # Emoji reactions to broadcasts, counted anonymously; while subscribed, still theirs.
        "reactions": reacted,
        # Answers given to polls, by tapping a button (kept under the keyed hash).
        "poll_votes": votes,
    }


def erase(conn, vault, e164):
    """Remove everything about one number except the consent proof; returns an ErasureReport."""
    phone_hash = vault.hash(e164)
    with write(conn) as tx:
        subscriber = tx.execute("SELECT id FROM subscribers WHERE phone_hash = ?",
                                (phone_hash,)).fetchone()
        unlinked = 0
        if subscriber is not None:
            delivery_ids = [row[0] for row in tx.execute(
                "SELECT id FROM deliveries WHERE subscriber_id = ?", (subscriber[0],))]
            unlinked = len(delivery_ids)
            # The platform can tell from a message id which number it went to; the counts keep
            # the status without it (a later receipt for a message still under way is lost).
            retention.forget_sids(tx, delivery_ids)
        # Before the Stop below, which unlinks them too: the report counts them.
        unlinked_reactions = reactions.unlink_citizen(tx, phone_hash)
        votes = polls.forget_voter(tx, phone_hash)
        # The same path as a Stop, so the withdrawal is recorded like any other.
        result = subscribers.unsubscribe(tx, phone_hash, "erasure", None)
        throttle = tx.execute("DELETE FROM notice_throttle WHERE phone_hash = ?",
                              (phone_hash,)).rowcount
        outbox = tx.execute("DELETE FROM outbox WHERE to_hash = ?", (phone_hash,)).rowcount
        replies = tx.execute("DELETE FROM replies WHERE phone_hash = ?", (phone_hash,)).rowcount
        kept = tx.execute("SELECT count(*) FROM consent_events WHERE phone_hash = ?",
                          (phone_hash,)).fetchone()[0]
    return ErasureReport(was_subscribed=result == subscribers.REMOVED,
                         deliveries_unlinked=unlinked, notice_throttle_removed=throttle,
                         outbox_removed=outbox, consent_records_kept=kept,
                         replies_removed=replies, reactions_unlinked=unlinked_reactions,
                         poll_votes_anonymised=votes)


def _iso(unix_time):
    return to_iso(datetime.fromtimestamp(unix_time, timezone.utc))


def _rows(conn, sql, *params):
    cursor = conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
