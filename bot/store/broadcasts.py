"""Broadcasts: the rows the press office writes, and what became of them, counted.

A broadcast is a row with a status; every recipient is a delivery row (``deliveries``, the
sender's queue), which also keeps the furthest status the platform reported for it. The counts
are kept by the database itself (``delivery_counts``, a trigger on deliveries), so reading
them costs the same for ten recipients as for a hundred thousand. Validation of what a
broadcast may say is the domain's (``domain.announcements``); nothing here knows Flask or
Twilio. It is long because every change of a broadcast's row, and who it reaches, is here.
"""

import json

from . import audience, corrections, polls, reach, usage, warnings
from .db import now_iso

# Every status a broadcast can have (schema.sql's CHECK holds the same list).
STATUSES = ("scheduled", "queued", "sending", "paused", "done", "cancelled")
ACTIVE = ("queued", "sending")
OPEN = ("scheduled", "queued", "sending", "paused")
DRAFT = "draft"  # written by the warnings relay or saved by the press office: no deliveries yet
AWAITING = "awaiting_approval"  # asked for a publisher's approval: no deliveries yet
DISCARDED = "discarded"  # a draft the press office threw away
HELD = (DRAFT, AWAITING)  # not sent, not scheduled: nothing happens until someone acts
COUNT_KEYS = ("queued", "sent", "delivered", "read", "failed", "skipped")

# SQLite stores integers in 64 bits; a larger id cannot name a row (and would overflow).
SQLITE_INT_MAX = 2 ** 63 - 1


class BroadcastNotFound(Exception):
    pass


class BroadcastClosed(Exception):
    """The broadcast is already done or cancelled."""


class NotADraft(Exception):
    """Only a draft can be edited, sent as it is or discarded; the message is its status."""


class WrongStatus(Exception):
    """The change needs the broadcast in another status; the message is the one it has."""


class Expired(Exception):
    """Its expiry time has passed before it could go out: there is nothing left to send."""


def create(conn, text, media_url=None, send_at=None, expires_at=None, urgent=False,
           created_by=None, draft=False, topics=(), translations=None, public=True,
           awaiting_approval_of=None, categories=None, corrects=None, answers=(),
           skipped_languages=()):
    """Write a broadcast; unless scheduled, a draft or awaiting approval (asked for by the
    account ``awaiting_approval_of``), also one delivery per subscriber it reaches
    (``audience.reached_by``). ``categories``: each language's template category now.

    Returns (id, status, recipients): for a scheduled broadcast or one awaiting approval, how
    many it would reach now. The caller holds the write transaction, so the broadcast and all
    its deliveries become durable together. ``corrects``: the broadcast this one corrects,
    whose recipients it goes to (``corrections``).
    ``answers``: a poll's, its buttons in order. ``skipped_languages``: the readers of these
    languages ('' for the main one) are left out (a warning's update they have already).
    """
    now = now_iso()
    scheduled = send_at is not None and send_at > now
    status = (DRAFT if draft else AWAITING if awaiting_approval_of
              else "scheduled" if scheduled else "queued")
    broadcast_id = conn.execute(
        "INSERT INTO broadcasts (text, media_url, status, urgent, created_at, send_at, "
        "expires_at, created_by, topics, translations, public, requested_by, requested_at, "
        f"category, language_categories, corrects) VALUES ({', '.join('?' * 16)}) RETURNING id",
        (text, media_url, status, int(bool(urgent)), now, send_at, expires_at, created_by,
         json.dumps(list(topics)) if topics else None,
         json.dumps(translations, ensure_ascii=False) if translations else None,
         int(bool(public)), awaiting_approval_of or None,
         now if awaiting_approval_of else None, *usage.categories_columns(categories),
         corrects),
    ).fetchone()[0]
    if answers:
        polls.create(conn, broadcast_id, answers)
    if skipped_languages:
        conn.execute("UPDATE broadcasts SET skipped_languages = ? WHERE id = ?",
                     (json.dumps(sorted(skipped_languages)), broadcast_id))
    if draft:
        return broadcast_id, status, 0
    if scheduled or awaiting_approval_of:
        recipients = would_reach(conn, broadcast_id)
    else:
        recipients = materialize(conn, broadcast_id)
    conn.execute("UPDATE broadcasts SET recipients = ? WHERE id = ?", (recipients, broadcast_id))
    return broadcast_id, status, recipients


def materialize(conn, broadcast_id):
    """One delivery per recipient, those reached in the last 24 hours first; how many."""
    others = _row(conn, "language_categories", broadcast_id)[0]
    condition, params = _audience(conn, broadcast_id)
    category, category_params = usage.delivery_category(others)  # where it differs
    created = sum(conn.execute(
        "INSERT INTO deliveries (broadcast_id, subscriber_id, category) "
        f"SELECT ?, id, {category} FROM subscribers WHERE {condition} AND {part} ORDER BY id",
        (broadcast_id, *category_params, *params, *part_params)).rowcount
        for part, part_params in reach.reached_first())
    if created:
        conn.execute(
            "INSERT INTO delivery_counts (broadcast_id, bucket, n) VALUES (?, 'queued', ?) "
            "ON CONFLICT (broadcast_id, bucket, code, kind) DO UPDATE SET n = n + excluded.n",
            (broadcast_id, created))
    return created


def _audience(conn, broadcast_id):
    """(SQL condition on subscribers, parameters) for who gets the broadcast: those of its
    topics (everyone when urgent) but the readers of its skipped languages; of a correction,
    only those its original reached."""
    urgent, topics, corrects, skipped = _row(conn, "urgent, topics, corrects, skipped_languages",
                                             broadcast_id)
    condition, params = audience.reached_by(urgent, json.loads(topics) if topics else ())
    if skipped:
        condition = (f"{condition} AND coalesce(subscribers.language, '') NOT IN "
                     "(SELECT value FROM json_each(?))")
        params = (*params, skipped)
    if corrects is None:
        return condition, params
    only, only_params = corrections.reached_by(corrects)
    return f"{condition} AND {only}", (*params, *only_params)


def would_reach(conn, broadcast_id):
    """How many the broadcast would reach if it went out now."""
    condition, params = _audience(conn, broadcast_id)
    return conn.execute(f"SELECT count(*) FROM subscribers WHERE {condition}",
                        params).fetchone()[0]


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


def status_of(conn, broadcast_id):
    return _row(conn, "status", broadcast_id)[0]


def columns(conn, broadcast_id, names):
    """Some columns of a broadcast's row, as a tuple; BroadcastNotFound when there is none."""
    return tuple(_row(conn, ", ".join(names), broadcast_id))


def cancel(conn, broadcast_id):
    status = status_of(conn, broadcast_id)
    if status not in OPEN:
        raise BroadcastClosed(status)
    conn.execute("UPDATE deliveries SET state = 'skipped', error_code = 'cancelled' "
                 "WHERE broadcast_id = ? AND state = 'queued'", (broadcast_id,))
    conn.execute("UPDATE broadcasts SET status = 'cancelled', finished_at = ? WHERE id = ?",
                 (now_iso(), broadcast_id))


def check_draft(conn, broadcast_id):
    status = status_of(conn, broadcast_id)
    if status != DRAFT:
        raise NotADraft(status)


def edit_draft(conn, broadcast_id, text, urgent, edited_by=None):
    """Change a draft's text and urgency; ``edited_by``: the account (or machine) that changed
    what someone else wrote, kept with the time of the change. An author's own change keeps
    an earlier mark: the text still holds what the other one wrote."""
    check_draft(conn, broadcast_id)
    conn.execute("UPDATE broadcasts SET text = ?, urgent = ? WHERE id = ?",
                 (text, int(bool(urgent)), broadcast_id))
    if edited_by:
        conn.execute("UPDATE broadcasts SET edited_by = ?, edited_at = ? WHERE id = ?",
                     (edited_by, now_iso(), broadcast_id))


def drop_translations(conn, broadcast_id):
    """Remove a broadcast's translations; returns the languages they were in."""
    (stored,) = columns(conn, broadcast_id, ("translations",))
    if not stored:
        return []
    conn.execute("UPDATE broadcasts SET translations = NULL WHERE id = ?", (broadcast_id,))
    return sorted(json.loads(stored))


def send_draft(conn, broadcast_id):
    """Queue a draft for everyone subscribed now, as a new broadcast would be (or schedule it,
    when it has a time still to come); returns how many it reaches."""
    check_draft(conn, broadcast_id)
    return release(conn, broadcast_id)[1]


def release(conn, broadcast_id):
    """A held broadcast goes out: scheduled when its time is still to come, else queued with
    its deliveries. Returns (status, recipients). Expired when it can no longer go out."""
    send_at, expires_at = _row(conn, "send_at, expires_at", broadcast_id)
    now = now_iso()
    if expires_at is not None and expires_at <= now:
        raise Expired(broadcast_id)
    if send_at is not None and send_at > now:
        recipients = would_reach(conn, broadcast_id)
        status = "scheduled"
    else:
        recipients = materialize(conn, broadcast_id)
        status = "queued"
    conn.execute("UPDATE broadcasts SET status = ?, recipients = ? WHERE id = ?",
                 (status, recipients, broadcast_id))
    return status, recipients


def discard_draft(conn, broadcast_id):
    """A draft, or one waiting for approval, is thrown away: it is never sent."""
    status = status_of(conn, broadcast_id)
    if status not in HELD:
        raise NotADraft(status)
    conn.execute(f"UPDATE broadcasts SET status = '{DISCARDED}', finished_at = ? WHERE id = ?",
                 (now_iso(), broadcast_id))


def resume(conn, broadcast_id):
    """Resume a paused broadcast by hand (after the operator fixed the credentials, or the
    press office shortened its text). One held before it started gets its deliveries now, as
    at its time (Expired when it can no longer go out)."""
    status = status_of(conn, broadcast_id)
    if status != "paused":
        raise BroadcastClosed(status)
    conn.execute("UPDATE broadcasts SET status = 'sending', pause_reason = NULL, "
                 "resume_at = NULL WHERE id = ?", (broadcast_id,))
    if not started(conn, broadcast_id):
        release(conn, broadcast_id)


def started(conn, broadcast_id):
    """Whether the broadcast has deliveries (a planned one has none before its time)."""
    return conn.execute("SELECT 1 FROM deliveries WHERE broadcast_id = ? LIMIT 1",
                        (broadcast_id,)).fetchone() is not None


def too_long(conn, broadcast_id, limit):
    """(field, length) of the broadcast's longest text over ``limit`` characters (``text`` or
    ``translations.<code>``), or None when all fit. SQLite's length() counts characters, as
    the platform does."""
    return conn.execute(
        "SELECT field, n FROM ("
        "  SELECT 'text' AS field, length(text) AS n FROM broadcasts WHERE id = ? "
        "  UNION ALL SELECT 'translations.' || t.key, length(t.value) "
        "  FROM broadcasts, json_each(coalesce(broadcasts.translations, '{}')) AS t "
        "  WHERE broadcasts.id = ?) WHERE n > ? ORDER BY n DESC, field LIMIT 1",
        (broadcast_id, broadcast_id, limit)).fetchone()


def pause(conn, broadcast_id, reason, resume_at=None):
    conn.execute("UPDATE broadcasts SET status = 'paused', pause_reason = ?, resume_at = ? "
                 "WHERE id = ? AND status IN ('queued', 'sending')",
                 (reason, resume_at, broadcast_id))


# --- reading -------------------------------------------------------------------------------

_COLUMNS = ("id", "text", "media_url", "status", "urgent", "created_at", "send_at",
            "expires_at", "started_at", "finished_at", "recipients", "pause_reason",
            "resume_at", "retries_unknown", "topics", "translations", "public", "created_by",
            "requested_by", "requested_at", "approved_by", "approved_at", "edited_by",
            "edited_at", "retries_citizen_cap", "over_budget", "corrects")
# Who wrote, asked, approved and changed: for the console and the audit trail, not the API's
# answer.
ACCOUNT_COLUMNS = ("created_by", "requested_by", "requested_at", "approved_by", "approved_at",
                   "edited_by", "edited_at")


def get(conn, broadcast_id):
    """A broadcast as a dict, with its ``counts``, ``errors`` (by the platform's code) and
    ``failures`` (``{(kind, code): count}``, for labels and hints)."""
    row = _row(conn, ", ".join(_COLUMNS), broadcast_id)
    return _with_sources(conn, [_with_counts(conn, dict(zip(_COLUMNS, row)))])[0]


def list_recent(conn, limit=50, offset=0):
    if offset > SQLITE_INT_MAX:
        return []  # past the end of any table SQLite can hold
    limit = min(limit, SQLITE_INT_MAX)
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM broadcasts ORDER BY id DESC LIMIT ? OFFSET ?",
        (limit, offset)).fetchall()
    return _with_sources(conn, [_with_counts(conn, dict(zip(_COLUMNS, row))) for row in rows])


def _with_sources(conn, found):
    """Each broadcast's ``source``: the official warning it relays, or None (the press
    office's own)."""
    sources = warnings.sources(conn, [b["id"] for b in found])
    for broadcast in found:
        broadcast["source"] = sources.get(broadcast["id"])
    return found


def _with_counts(conn, broadcast):
    for flag in ("urgent", "public", "over_budget"):
        broadcast[flag] = bool(broadcast[flag])
    broadcast["topics"] = json.loads(broadcast["topics"]) if broadcast["topics"] else []
    broadcast["translations"] = (json.loads(broadcast["translations"])
                                 if broadcast["translations"] else {})
    counts = dict.fromkeys(COUNT_KEYS, 0)
    errors, failures = {}, {}
    for bucket, code, kind, number in _count_rows(conn, broadcast["id"]):
        counts[bucket] += number
        if bucket == "failed":
            errors[code or "unknown"] = errors.get(code or "unknown", 0) + number
            key = (kind or None, code or None)
            failures[key] = failures.get(key, 0) + number
    if broadcast["status"] == "scheduled":
        counts["queued"] = broadcast["recipients"]
    broadcast["counts"] = counts
    broadcast["poll"] = polls.results(conn, broadcast["id"])  # None: it asks nothing
    delivered = counts["delivered"] + counts["read"]  # reached: every stage a message passed
    broadcast["reached"] = {"sent": counts["sent"] + delivered, "delivered": delivered,
                            "read": counts["read"]}  # sent >= delivered >= read; failures apart
    broadcast["errors"] = errors
    broadcast["failures"] = failures
    return broadcast


def _count_rows(conn, broadcast_id):
    return conn.execute("SELECT bucket, code, kind, n FROM delivery_counts "
                        "WHERE broadcast_id = ? AND n != 0", (broadcast_id,)).fetchall()


def skip_reasons(conn, broadcast_id):
    """Why deliveries of a broadcast were skipped: {reason: count} (no recipients named)."""
    return {code or "unknown": number for bucket, code, _, number in _count_rows(
        conn, broadcast_id) if bucket == "skipped"}


def recently_active(conn, since):
    """Broadcasts sending or paused now, or finished since ``since`` (callbacks still come)."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM broadcasts WHERE status IN ('sending', 'paused') "
        "OR (status = 'done' AND finished_at >= ?) ORDER BY id", (since,))]
