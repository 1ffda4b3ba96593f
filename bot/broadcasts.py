"""Broadcasts and their deliveries: the durable outbox that the sender works through.

A broadcast is a row with a status; every recipient is a delivery row. The sender claims
deliveries, sends, and records the outcome; Twilio's later status callbacks land in
``message_status`` (by sid) and are joined in when counting. Nothing here knows Flask or Twilio.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from . import subscribers
from .db import now_iso, to_iso

ACTIVE = ("queued", "sending")
# pause_reason of a broadcast paused for WhatsApp's messaging limit; it resumes by itself.
LIMIT_PAUSE_REASON = "messaging limit"
OPEN = ("scheduled", "queued", "sending", "paused")
COUNT_KEYS = ("queued", "sent", "delivered", "read", "failed", "skipped")


# SQLite stores integers in 64 bits; a larger id cannot name a row (and would overflow).
SQLITE_INT_MAX = 2 ** 63 - 1

# WhatsApp's limits: a template variable holds 1,024 characters, a free-form body 1,600.
TEMPLATE_TEXT_LIMIT = 1024
FREEFORM_TEXT_LIMIT = 1600


class InvalidBroadcast(Exception):
    """The request cannot become a broadcast; the message says why, in plain words."""


class BroadcastNotFound(Exception):
    pass


class BroadcastClosed(Exception):
    """The broadcast is already done or cancelled."""


@dataclass
class Claimed:
    delivery_id: int
    broadcast_id: int
    subscriber_id: int
    attempts: int  # earlier sends of this delivery whose outcome was unknown (5xx, timeout)


def text_limit(template_mode):
    return TEMPLATE_TEXT_LIMIT if template_mode else FREEFORM_TEXT_LIMIT


def validate(data, template_mode, tz_name="Europe/Berlin"):
    """Check a broadcast request (API JSON or console form) → keyword arguments for create().

    Times without a zone are read as local time of ``tz_name``: a press officer in Germany who
    types 18:00 means 18:00 in Germany.
    """
    if not isinstance(data, dict):
        raise InvalidBroadcast("expected a JSON object with a \"text\" field")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidBroadcast("text is missing or empty")
    text = text.strip()
    if "\x00" in text:
        raise InvalidBroadcast("text contains a NUL character")
    limit = text_limit(template_mode)
    if len(text) > limit:
        mode = "template variable" if template_mode else "free-form message"
        raise InvalidBroadcast(
            f"text is {len(text)} characters; a {mode} holds at most {limit}")
    # Only absent or null means "no image": 0, false or "" are mistakes worth a 400, not a
    # silent text-only broadcast.
    media_url = data.get("media_url")
    if media_url is not None:
        if not isinstance(media_url, str) or len(media_url) > 2000:
            raise InvalidBroadcast("media_url must be an http(s) URL")
        parsed = urlparse(media_url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in media_url.strip():
            raise InvalidBroadcast("media_url must be an http(s) URL")
        if template_mode:
            raise InvalidBroadcast(
                "media_url cannot be sent with the text template (BROADCAST_CONTENT_SID); "
                "send the text alone")
        media_url = media_url.strip()
    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        raise InvalidBroadcast("urgent must be true or false")
    now = now_iso()
    send_at = _parse_time(data.get("send_at"), "send_at", tz_name)
    if send_at is not None and send_at < now_iso(-60):
        raise InvalidBroadcast("send_at is in the past")
    expires_at = _parse_time(data.get("expires_at"), "expires_at", tz_name)
    if expires_at is not None and expires_at <= max(now, send_at or now):
        raise InvalidBroadcast("expires_at must be in the future and after send_at")
    return {"text": text, "media_url": media_url, "send_at": send_at,
            "expires_at": expires_at, "urgent": urgent}


def _parse_time(value, name, tz_name):
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidBroadcast(f"{name} must be an ISO-8601 date and time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidBroadcast(
            f"{name} is not an ISO-8601 date and time (e.g. 2026-12-24T18:00:00+01:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz_name))
    if moment.year < 2000 or moment.year > 2100:
        raise InvalidBroadcast(f"{name} is out of range")
    return to_iso(moment.astimezone(timezone.utc))


def create(conn, text, media_url=None, send_at=None, expires_at=None, urgent=False,
           created_by=None):
    """Write a broadcast; unless scheduled, also one delivery per active subscriber.

    Returns (id, status, recipients). The caller holds the write transaction, so the broadcast
    and all its deliveries become durable together.
    """
    now = now_iso()
    scheduled = send_at is not None and send_at > now
    status = "scheduled" if scheduled else "queued"
    broadcast_id = conn.execute(
        "INSERT INTO broadcasts (text, media_url, status, urgent, created_at, send_at, "
        "expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (text, media_url, status, int(bool(urgent)), now, send_at, expires_at, created_by),
    ).fetchone()[0]
    if scheduled:
        recipients = conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]
    else:
        recipients = _materialize(conn, broadcast_id)
    conn.execute("UPDATE broadcasts SET recipients = ? WHERE id = ?", (recipients, broadcast_id))
    return broadcast_id, status, recipients


def _materialize(conn, broadcast_id):
    cursor = conn.execute(
        "INSERT INTO deliveries (broadcast_id, subscriber_id) "
        "SELECT ?, id FROM subscribers ORDER BY id", (broadcast_id,))
    return cursor.rowcount


def _row(conn, columns, broadcast_id):
    """The broadcast's row; BroadcastNotFound also for ids no SQLite row can have (web routes
    hand over whatever digits were in the URL)."""
    if not (isinstance(broadcast_id, int)
            and -SQLITE_INT_MAX - 1 <= broadcast_id <= SQLITE_INT_MAX):
        raise BroadcastNotFound(broadcast_id)
    row = conn.execute(f"SELECT {columns} FROM broadcasts WHERE id = ?",
                       (broadcast_id,)).fetchone()
    if row is None:
        raise BroadcastNotFound(broadcast_id)
    return row


def _status_of(conn, broadcast_id):
    return _row(conn, "status", broadcast_id)[0]


def cancel(conn, broadcast_id):
    status = _status_of(conn, broadcast_id)
    if status not in OPEN:
        raise BroadcastClosed(status)
    conn.execute("UPDATE deliveries SET state = 'skipped', error_code = 'cancelled' "
                 "WHERE broadcast_id = ? AND state = 'queued'", (broadcast_id,))
    conn.execute("UPDATE broadcasts SET status = 'cancelled', finished_at = ? WHERE id = ?",
                 (now_iso(), broadcast_id))


def resume(conn, broadcast_id):
    """Resume a paused broadcast by hand (after the operator fixed the credentials)."""
    status = _status_of(conn, broadcast_id)
    if status != "paused":
        raise BroadcastClosed(status)
    conn.execute("UPDATE broadcasts SET status = 'sending', pause_reason = NULL, "
                 "resume_at = NULL WHERE id = ?", (broadcast_id,))


# --- reading -------------------------------------------------------------------------------

_COLUMNS = ("id", "text", "media_url", "status", "urgent", "created_at", "send_at",
            "expires_at", "started_at", "finished_at", "recipients", "pause_reason",
            "resume_at", "retries_unknown")


def get(conn, broadcast_id):
    row = _row(conn, ", ".join(_COLUMNS), broadcast_id)
    return _with_counts(conn, dict(zip(_COLUMNS, row)))


def list_recent(conn, limit=50, offset=0):
    if offset > SQLITE_INT_MAX:
        return []  # past the end of any table SQLite can hold
    limit = min(limit, SQLITE_INT_MAX)
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM broadcasts ORDER BY id DESC LIMIT ? OFFSET ?",
        (limit, offset)).fetchall()
    return [_with_counts(conn, dict(zip(_COLUMNS, row))) for row in rows]


def _with_counts(conn, broadcast):
    broadcast["urgent"] = bool(broadcast["urgent"])
    counts = dict.fromkeys(COUNT_KEYS, 0)
    errors = {}
    rows = conn.execute(
        "SELECT CASE WHEN d.state IN ('queued', 'sending') THEN 'queued' "
        "            WHEN d.state IN ('failed', 'skipped') THEN d.state "
        "            ELSE coalesce(m.status, 'sent') END AS bucket, "
        "       CASE WHEN d.state = 'failed' THEN d.error_code "
        "            WHEN m.status = 'failed' THEN m.error_code END AS code, "
        "       count(*) "
        "FROM deliveries d LEFT JOIN message_status m ON m.sid = d.sid "
        "WHERE d.broadcast_id = ? GROUP BY bucket, code", (broadcast["id"],))
    for bucket, code, number in rows:
        counts[bucket] += number
        if bucket == "failed":
            key = code or "unknown"
            errors[key] = errors.get(key, 0) + number
    if broadcast["status"] == "scheduled":
        counts["queued"] = broadcast["recipients"]
    broadcast["counts"] = counts
    broadcast["errors"] = errors
    return broadcast


# --- status callbacks ------------------------------------------------------------------------

def record_status(conn, update):
    """Keep the highest status Twilio reported for a sid (callbacks come in any order).

    A message refused for WhatsApp's messaging limit pauses its broadcast and goes out again
    after the pause, as when the refusal comes straight from the REST call.
    """
    conn.execute(
        "INSERT INTO message_status (sid, rank, status, error_code, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sid) DO UPDATE SET rank = excluded.rank, "
        "status = excluded.status, error_code = excluded.error_code, "
        "updated_at = excluded.updated_at WHERE excluded.rank > message_status.rank",
        (update.sid, update.rank, update.status, update.error_code, now_iso()))
    if update.limit_reached:
        # Before the sender has stored the sid this finds nothing; record_outcomes looks again.
        refused = conn.execute("SELECT id FROM deliveries WHERE sid = ? AND state = 'sent'",
                               (update.sid,)).fetchall()
        requeue_for_limit(conn, [row[0] for row in refused], update.error_code)


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
            "UPDATE deliveries SET state = 'queued', sid = NULL, next_attempt_at = 0 "
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
            (f"{LIMIT_PAUSE_REASON} ({code})", broadcast_id))
    return paused


def subscriber_for_sid(conn, sid):
    row = conn.execute("SELECT subscriber_id FROM deliveries WHERE sid = ?", (sid,)).fetchone()
    return row[0] if row else None


# --- the sender's side -----------------------------------------------------------------------

def recover_in_flight(conn):
    """After a crash: deliveries claimed but never recorded go back to the queue.

    They may have reached Twilio before the crash, so each counts as a possible duplicate.
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


def housekeeping(conn, limit_pause_seconds=3600.0):
    """Start due broadcasts, resume paused ones whose time has come, expire, finish.

    Returns [(id, pause_reason)] of broadcasts that a status callback paused for the messaging
    limit and that now got their resume time (``limit_pause_seconds`` from now).
    """
    now = now_iso()
    limit_paused = conn.execute(
        "UPDATE broadcasts SET resume_at = ? WHERE status = 'paused' AND resume_at IS NULL "
        "AND pause_reason LIKE ? RETURNING id, pause_reason",
        (now_iso(limit_pause_seconds), LIMIT_PAUSE_REASON + " (%")).fetchall()
    # A callback that reported an opt-out before the sender had recorded the sid could not be
    # matched to a subscriber then; it is matched here.
    for (subscriber_id,) in conn.execute(
            "SELECT d.subscriber_id FROM message_status m JOIN deliveries d ON d.sid = m.sid "
            "JOIN subscribers s ON s.id = d.subscriber_id "
            "WHERE m.error_code = '21610'").fetchall():
        subscribers.unsubscribe_by_id(conn, subscriber_id, "platform-opt-out")
    due = conn.execute("SELECT id FROM broadcasts WHERE status = 'scheduled' AND send_at <= ?",
                       (now,)).fetchall()
    for (broadcast_id,) in due:
        recipients = _materialize(conn, broadcast_id)
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


def recently_active(conn, since):
    """Broadcasts sending or paused now, or finished since ``since`` (callbacks still come)."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM broadcasts WHERE status IN ('sending', 'paused') "
        "OR (status = 'done' AND finished_at >= ?) ORDER BY id", (since,))]


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


def recipient(conn, subscriber_id):
    """The encrypted number of a subscriber still subscribed now, else None (Stop wins)."""
    row = conn.execute("SELECT phone_enc, phone_hash FROM subscribers WHERE id = ?",
                       (subscriber_id,)).fetchone()
    return row


def broadcast_content(conn, broadcast_id):
    return conn.execute("SELECT text, media_url FROM broadcasts WHERE id = ?",
                        (broadcast_id,)).fetchone()


def record_outcomes(conn, sent, failed, skipped, retry, unknown_retries, counted_retry=(),
                    limit_codes=()):
    """Write a batch of send results in one transaction.

    sent: [(sid, delivery_id)]; failed: [(code, delivery_id)]; skipped: [(reason, delivery_id)];
    retry: [(next_attempt_epoch, delivery_id)] for sends that never reached Twilio or were
    never processed (429, pause, cancel); counted_retry: the same for unknown outcomes, which
    count toward the attempt limit; unknown_retries: {broadcast_id: n}. ``limit_codes``: the
    error codes of WhatsApp's messaging limit, for callbacks that came before the sid was here.
    """
    if sent:
        conn.executemany("UPDATE deliveries SET state = 'sent', sid = ? WHERE id = ?", sent)
        if limit_codes:
            _requeue_early_limit_refusals(conn, sent, limit_codes)
    if failed:
        conn.executemany("UPDATE deliveries SET state = 'failed', error_code = ? WHERE id = ?",
                         failed)
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


def _requeue_early_limit_refusals(conn, sent, limit_codes):
    """A limit refusal reported by a callback before its sid was recorded (see record_status)."""
    codes = list(limit_codes)
    by_sid = dict(sent)
    for start in range(0, len(sent), 500):
        sids = [sid for sid, _ in sent[start:start + 500]]
        refused = conn.execute(
            f"SELECT sid, error_code FROM message_status WHERE sid IN "
            f"({', '.join('?' * len(sids))}) AND error_code IN ({', '.join('?' * len(codes))})",
            sids + codes).fetchall()
        for sid, code in refused:
            requeue_for_limit(conn, [by_sid[sid]], code)


def pause(conn, broadcast_id, reason, resume_at=None):
    conn.execute("UPDATE broadcasts SET status = 'paused', pause_reason = ?, resume_at = ? "
                 "WHERE id = ? AND status IN ('queued', 'sending')",
                 (reason, resume_at, broadcast_id))


def is_sendable(conn, broadcast_id):
    row = conn.execute("SELECT status FROM broadcasts WHERE id = ?", (broadcast_id,)).fetchone()
    return row is not None and row[0] in ACTIVE


def skip_reasons(conn, broadcast_id):
    """Why deliveries of a broadcast were skipped: {reason: count} (no recipients named)."""
    return dict(conn.execute(
        "SELECT coalesce(error_code, 'unknown'), count(*) FROM deliveries "
        "WHERE broadcast_id = ? AND state = 'skipped' GROUP BY 1", (broadcast_id,)).fetchall())
