"""The sender's side of the deliveries table: claim, record outcomes, recover, housekeeping.

One delivery row per recipient of a broadcast; ``state`` is the sender's side of the story
(queued → sending → sent | failed | skipped). Everything here runs inside a write transaction
the caller holds, except the reads at the end. Nothing here knows Flask or Twilio.
"""

import json
import time
from dataclasses import dataclass

from .. import vocabulary
from . import audience, citizen_cap, media, polls, subscribers
from .broadcasts import materialize, too_long
from .db import now_iso


@dataclass
class Claimed:
    delivery_id: int
    broadcast_id: int
    subscriber_id: int
    attempts: int  # earlier sends of this delivery whose outcome was unknown (5xx, timeout)


def recover_in_flight(conn):
    """After a crash: deliveries claimed but never recorded go back to the queue.

    They may have reached the platform before the crash, so each counts as a possible
    duplicate.
    """
    rows = conn.execute(
        "UPDATE deliveries SET state = 'queued' WHERE state = 'sending' "
        "RETURNING broadcast_id").fetchall()
    per_broadcast = {}
    for (broadcast_id,) in rows:
        per_broadcast[broadcast_id] = per_broadcast.get(broadcast_id, 0) + 1
    for broadcast_id, number in per_broadcast.items():
        conn.execute("UPDATE broadcasts SET retries_unknown = retries_unknown + ? WHERE id = ?",
                     (number, broadcast_id))
    return len(rows)


_LIMIT_PAUSED = vocabulary.PAUSE_MESSAGING_LIMIT + " (%"


def housekeeping(conn, limit_pause_seconds=3600.0, text_limit=None):
    """Start due broadcasts, resume paused ones whose time has come, expire, finish.

    A due broadcast with a text or translation over ``text_limit`` characters (the limit now;
    None: not checked) is paused instead, before any delivery: written under a larger limit,
    it would be refused by the platform for every reader.

    Returns [(id, pause_reason)] of broadcasts that a status callback paused for the messaging
    limit and that now got their resume time (``limit_pause_seconds`` from now), and of those
    paused for a text too long.
    """
    now = now_iso()
    limit_paused = conn.execute(
        "UPDATE broadcasts SET resume_at = ? WHERE status = 'paused' AND resume_at IS NULL "
        "AND pause_reason LIKE ? RETURNING id, pause_reason",
        (now_iso(limit_pause_seconds), _LIMIT_PAUSED)).fetchall()
    due = conn.execute("SELECT id FROM broadcasts WHERE status = 'scheduled' AND send_at <= ?",
                       (now,)).fetchall()
    for (broadcast_id,) in due:
        over = text_limit and too_long(conn, broadcast_id, text_limit)
        if over:
            reason = vocabulary.too_long_reason(*over, text_limit)
            conn.execute("UPDATE broadcasts SET status = 'paused', pause_reason = ?, "
                         "resume_at = NULL WHERE id = ?", (reason, broadcast_id))
            limit_paused.append((broadcast_id, reason))
            continue
        recipients = materialize(conn, broadcast_id)
        conn.execute("UPDATE broadcasts SET status = 'queued', recipients = ? WHERE id = ?",
                     (recipients, broadcast_id))
    conn.execute("UPDATE broadcasts SET status = 'sending', pause_reason = NULL, "
                 "resume_at = NULL WHERE status = 'paused' AND resume_at <= ?", (now,))
    expired = conn.execute(
        "SELECT id FROM broadcasts WHERE status IN ('scheduled', 'queued', 'sending', 'paused') "
        "AND expires_at IS NOT NULL AND expires_at <= ?", (now,)).fetchall()
    for (broadcast_id,) in expired:
        conn.execute("UPDATE deliveries SET state = 'skipped', error_code = 'expired' "
                     "WHERE broadcast_id = ? AND state = 'queued'", (broadcast_id,))
        conn.execute("UPDATE broadcasts SET status = 'done', finished_at = ? WHERE id = ?",
                     (now, broadcast_id))
    # A send that was in flight when its broadcast was cancelled or expired comes back as a
    # retry (429, 5xx, a crash): it must not stay queued in a closed broadcast. Only a cancel or
    # an expiry closes a broadcast while something is in flight, so only those are looked at.
    conn.execute(
        "UPDATE deliveries SET state = 'skipped', error_code = (SELECT CASE b.status "
        "  WHEN 'cancelled' THEN 'cancelled' ELSE 'expired' END FROM broadcasts b "
        "  WHERE b.id = deliveries.broadcast_id) "
        "WHERE state = 'queued' AND broadcast_id IN (SELECT id FROM broadcasts "
        "  WHERE status = 'cancelled' OR (status = 'done' AND expires_at <= ?))", (now,))
    for (broadcast_id,) in conn.execute(
            "SELECT id FROM broadcasts WHERE status IN ('queued', 'sending')").fetchall():
        pending = conn.execute(
            "SELECT 1 FROM deliveries WHERE broadcast_id = ? AND state IN ('queued', 'sending') "
            "LIMIT 1", (broadcast_id,)).fetchone()
        if pending is None:
            conn.execute("UPDATE broadcasts SET status = 'done', finished_at = ? WHERE id = ?",
                         (now, broadcast_id))
    return limit_paused


def active_order(conn):
    """Broadcasts the sender may work on, urgent first, then oldest first."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM broadcasts WHERE status IN ('queued', 'sending') "
        "ORDER BY urgent DESC, id")]


def claim(conn, broadcast_id, limit, now_epoch):
    """Mark up to ``limit`` due deliveries of one broadcast as in flight and return them.

    Claiming is not an attempt: a claim undone by a pause, a cancel, a 429 or a crash must not
    bring a delivery closer to failing. Only unknown outcomes count (record_outcomes).
    """
    rows = conn.execute(
        "UPDATE deliveries SET state = 'sending' WHERE id IN ("
        "  SELECT id FROM deliveries WHERE broadcast_id = ? AND state = 'queued' "
        "  AND next_attempt_at <= ? ORDER BY id LIMIT ?) "
        "RETURNING id, broadcast_id, subscriber_id, attempts",
        (broadcast_id, now_epoch, limit)).fetchall()
    if rows:
        conn.execute("UPDATE broadcasts SET status = 'sending', started_at = coalesce("
                     "started_at, ?) WHERE id = ? AND status = 'queued'",
                     (now_iso(), broadcast_id))
    return [Claimed(*row) for row in rows]


def recipients(conn, subscriber_ids, urgent=False, topics=()):
    """{subscriber id: (encrypted number, hash, language)} of those of them who are still
    subscribed now and still get this broadcast (they may have left its topic)."""
    condition, params = audience.reached_by(urgent, topics)
    return {row[0]: (row[1], row[2], row[3]) for row in conn.execute(
        "SELECT id, phone_enc, phone_hash, language FROM subscribers WHERE id IN "
        f"(SELECT value FROM json_each(?)) AND {condition}",
        (json.dumps(list(subscriber_ids)), *params))}


def departures(conn):
    """How many subscriptions have ended so far: when it moves, someone has left."""
    return conn.execute("SELECT count FROM subscriber_departures WHERE id = 1").fetchone()[0]


@dataclass
class Content:
    """What a broadcast says and to whom: read once by the sender, it never changes."""

    text: str
    media_url: str
    urgent: bool
    topics: list
    translations: dict
    # what media_url is when it is one of our stored files (``media.kind_of_url``)
    media_type: str = None
    media_filename: str = None
    answers: list = None  # a poll's answers, the same in every language

    def text_in(self, language):
        return self.translations.get(language) or self.text


def broadcast_content(conn, broadcast_id):
    text, media_url, urgent, topics, translations = conn.execute(
        "SELECT text, media_url, urgent, topics, translations FROM broadcasts WHERE id = ?",
        (broadcast_id,)).fetchone()
    media_type, media_filename = media.kind_of_url(conn, media_url)
    return Content(text, media_url, bool(urgent), json.loads(topics) if topics else [],
                   json.loads(translations) if translations else {}, media_type,
                   media_filename, polls.answers_of(conn, broadcast_id))


def record_outcomes(conn, sent, failed, skipped, retry, unknown_retries, counted_retry=()):
    """Write a batch of send results in one transaction.

    sent: [(message id, delivery_id)]; failed: [(code, kind, delivery_id)]; skipped:
    [(reason, delivery_id)]; retry: [(next_attempt_epoch, delivery_id)] for sends that never
    reached the platform or were never processed (429, pause, cancel); counted_retry: the same
    for unknown outcomes, which count toward the attempt limit; unknown_retries:
    {broadcast_id: n}.
    """
    if sent:
        now = time.time()
        conn.executemany("UPDATE deliveries SET state = 'sent', sid = ?, sent_at = ? "
                         "WHERE id = ?", [(sid, now, delivery_id) for sid, delivery_id in sent])
        _take_early_reports(conn, sent)
    if failed:
        conn.executemany("UPDATE deliveries SET state = 'failed', error_code = ?, "
                         "error_kind = ? WHERE id = ?", failed)
    if skipped:
        conn.executemany("UPDATE deliveries SET state = 'skipped', error_code = ? WHERE id = ?",
                         skipped)
    if retry:
        conn.executemany("UPDATE deliveries SET state = 'queued', next_attempt_at = ? "
                         "WHERE id = ? AND state = 'sending'", retry)
    if counted_retry:
        conn.executemany("UPDATE deliveries SET state = 'queued', next_attempt_at = ?, "
                         "attempts = attempts + 1 WHERE id = ? AND state = 'sending'",
                         counted_retry)
    for broadcast_id, number in unknown_retries.items():
        conn.execute("UPDATE broadcasts SET retries_unknown = retries_unknown + ? WHERE id = ?",
                     (number, broadcast_id))


def _take_early_reports(conn, sent):
    """Reports that came before their message id was recorded (statuses.record) go onto the
    deliveries now, with what they mean: a messaging-limit refusal sends the message again
    later, an opt-out unsubscribes the citizen."""
    ids = json.dumps([message_id for message_id, _ in sent])
    early = conn.execute(
        "SELECT m.sid, m.status, m.rank, m.error_code, m.error_kind, d.id, d.subscriber_id, "
        "m.updated_at "
        "FROM message_status m JOIN deliveries d ON d.sid = m.sid "
        "WHERE m.sid IN (SELECT value FROM json_each(?))", (ids,)).fetchall()
    if not early:
        return
    conn.executemany(
        "UPDATE deliveries SET receipt = ?, receipt_rank = ?, receipt_at = ?, "
        "error_code = CASE WHEN ? = 'failed' THEN ? ELSE error_code END, "
        "error_kind = CASE WHEN ? = 'failed' THEN ? ELSE error_kind END WHERE id = ?",
        [(status, rank, at, status, code, status, kind, delivery_id)
         for _, status, rank, code, kind, delivery_id, _, at in early])
    conn.execute("DELETE FROM message_status WHERE sid IN (SELECT value FROM json_each(?))",
                 (json.dumps([row[0] for row in early]),))
    for _, _, _, code, kind, delivery_id, subscriber_id, _ in early:
        if kind == vocabulary.MESSAGING_LIMIT:
            requeue_for_limit(conn, [delivery_id], code)
        elif kind == vocabulary.CITIZEN_CAP:
            citizen_cap.retry(conn, [(code, delivery_id, citizen_cap.RETRY_SECONDS)])
        elif kind == vocabulary.OPTED_OUT and subscriber_id is not None:
            subscribers.unsubscribe_by_id(conn, subscriber_id, "platform-opt-out")


def requeue_for_limit(conn, delivery_ids, code):
    """Send these deliveries again later and pause their broadcasts for the messaging limit.

    The pause gets no resume_at here: the web process, which records callbacks, does not know
    LIMIT_PAUSE_MINUTES; the sender's housekeeping sets it. A cancelled or expired broadcast
    is left alone (the refusal stays counted as failed). Returns the paused broadcasts' ids.
    """
    now = now_iso()
    paused = set()
    for delivery_id in delivery_ids:
        row = conn.execute(
            "UPDATE deliveries SET state = 'queued', sid = NULL, next_attempt_at = 0, "
            "receipt = NULL, receipt_rank = NULL, receipt_at = NULL, error_code = NULL, "
            "error_kind = NULL "
            "WHERE id = ? AND state = 'sent' AND broadcast_id IN (SELECT id FROM broadcasts "
            "  WHERE status IN ('queued', 'sending', 'paused') "
            "  OR (status = 'done' AND (expires_at IS NULL OR expires_at > ?))) "
            "RETURNING broadcast_id", (delivery_id, now)).fetchone()
        if row is not None:
            paused.add(row[0])
    for broadcast_id in paused:
        # A broadcast already paused keeps its reason: credentials still need a hand.
        conn.execute(
            "UPDATE broadcasts SET status = 'paused', pause_reason = ?, resume_at = NULL, "
            "finished_at = NULL WHERE id = ? AND status IN ('queued', 'sending', 'done')",
            (vocabulary.pause_reason(vocabulary.PAUSE_MESSAGING_LIMIT, code), broadcast_id))
    return paused

