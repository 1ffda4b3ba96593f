"""Creating a broadcast: what it may say and when, then one write that makes it durable.

The API, the console and the CLI all come through ``submit``, so none of them can do what the
others could not.
"""

from datetime import datetime, timezone
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from ..store import broadcasts
from ..store.db import now_iso, to_iso, write

# WhatsApp's limits: a template variable holds 1,024 characters, a free-form body 1,600.
TEMPLATE_TEXT_LIMIT = 1024
FREEFORM_TEXT_LIMIT = 1600


class InvalidBroadcast(Exception):
    """The request cannot become a broadcast; the message says why, in plain words."""


def template_mode(settings):
    """Broadcasts go out as the approved template (text as its variable), not free-form."""
    return bool(settings["BROADCAST_CONTENT_SID"])


def text_limit(template):
    return TEMPLATE_TEXT_LIMIT if template else FREEFORM_TEXT_LIMIT


def validate(data, template, tz_name="Europe/Berlin"):
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
    limit = text_limit(template)
    if len(text) > limit:
        mode = "template variable" if template else "free-form message"
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
        if template:
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


def submit(database, data, settings, created_by):
    """Validate and store a broadcast; returns the answer dict. Raises InvalidBroadcast.

    ``settings``: the configuration (template mode, time zone, messaging tier).
    """
    fields = validate(data, template_mode(settings), settings["TIMEZONE"])
    with write(database, durable=True) as conn:
        broadcast_id, status, recipients = broadcasts.create(conn, created_by=created_by,
                                                             **fields)
    answer = {"id": broadcast_id, "status": status, "recipients": recipients,
              "urgent": fields["urgent"], "send_at": fields["send_at"],
              "expires_at": fields["expires_at"], "warnings": []}
    tier = settings["MESSAGING_LIMIT_24H"]
    if tier and recipients > tier:
        answer["warnings"].append(
            f"{recipients} recipients exceed the messaging limit of {tier} people per 24 hours; "
            "the sender pauses when WhatsApp refuses more and resumes later by itself")
    return answer
