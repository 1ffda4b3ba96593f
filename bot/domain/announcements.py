"""Creating a broadcast: what it may say and when, then one write that makes it durable; and
editing, sending or discarding a draft (what the warnings relay writes, or the press office
saves), cancelling, resuming, editing a planned one, keeping one off the public page.

The API, the console and the CLI all come through these, so none of them can do what the
others could not; and each writes its audit entry in the same transaction as the change, so
that the trail holds exactly what happened. ``actor`` is who acts: an account name, or
``audit.API``/``audit.CLI``.

It is long because every way a broadcast changes is here, next to the one validation they
all share; split, the rules of one would drift from the others'.
"""

import re
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from .. import config
from ..store import approvals, audit, broadcasts, media
from ..store import polls as stored_polls
from ..store.db import now_iso, to_iso, write
from . import authorship, budget, plan, polls

# What neither SQLite nor the platform can take as UTF-8: a lone surrogate, as JSON can spell it
# ("\ud800") and as a command-line argument in bytes that are not UTF-8 arrives.
_NOT_UNICODE = re.compile("[\ud800-\udfff]")
# WhatsApp's limits: a template's body as sent (its own words and the variables) holds 1,024
# characters, a free-form body 1,600.
TEMPLATE_TEXT_LIMIT = config.TEMPLATE_BODY_LIMIT
FREEFORM_TEXT_LIMIT = 1600


class InvalidBroadcast(Exception):
    """The request cannot become a broadcast; the message says why, in plain words."""


def template_mode(settings):
    """0 when broadcasts go out free-form; else they go out as the approved template
    (BROADCAST_CONTENT_SID on Twilio, META_TEMPLATE on Meta), and this is how many characters
    their text may have: the 1,024 WhatsApp allows the template's body as sent, less its own
    words (TEMPLATE_FIXED_CHARACTERS). A longer text would pass every check here and then be
    refused by WhatsApp for every citizen."""
    if not _templated(settings):
        return 0
    return TEMPLATE_TEXT_LIMIT - settings["TEMPLATE_FIXED_CHARACTERS"]


def text_limit(template):
    """The most characters of a text; ``template``: what ``template_mode`` answered."""
    if isinstance(template, bool):
        raise TypeError("text_limit takes template_mode's answer, not a bool")
    return template or FREEFORM_TEXT_LIMIT


def validate(data, template, tz_name="Europe/Berlin", topics=(), languages=()):
    """Check a broadcast request (API JSON or console form) → keyword arguments for create().

    Times without a zone are read as local time of ``tz_name``: a press officer in Germany who
    types 18:00 means 18:00 in Germany. ``topics``: the configured slugs; ``languages``: the
    further languages a translation may be in (the main one's text is ``text``).
    """
    if not isinstance(data, dict):
        raise InvalidBroadcast("expected a JSON object with a \"text\" field")
    text = _text(data.get("text"), "text", template)
    # Only absent or null means "no image": 0, false or "" are mistakes worth a 400, not a
    # silent text-only broadcast.
    media_url = data.get("media_url")
    if media_url is not None:
        if not isinstance(media_url, str) or len(media_url) > 2000 \
                or _NOT_UNICODE.search(media_url):
            raise InvalidBroadcast("media_url must be an http(s) URL")
        try:
            parsed = urlparse(media_url.strip())
        except ValueError:
            # An unclosed "[" of an IPv6 host, or a host that changes under NFKC: no address
            # the platform could fetch.
            raise InvalidBroadcast("media_url is not a valid URL (its host cannot be read)") \
                from None
        if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in media_url.strip():
            raise InvalidBroadcast("media_url must be an http(s) URL")
        # Whether the configuration can send it (a media template of its kind) is
        # ``check_media``'s to say.
        media_url = media_url.strip()
    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        raise InvalidBroadcast("urgent must be true or false")
    public = data.get("public", True)
    if not isinstance(public, bool):
        raise InvalidBroadcast("public must be true or false")
    now = now_iso()
    send_at = _parse_time(data.get("send_at"), "send_at", tz_name)
    if send_at is not None and send_at < now_iso(-60):
        raise InvalidBroadcast("send_at is in the past")
    expires_at = _parse_time(data.get("expires_at"), "expires_at", tz_name)
    if expires_at is not None and expires_at <= max(now, send_at or now):
        raise InvalidBroadcast("expires_at must be in the future and after send_at")
    try:
        answers = polls.check_answers(data.get("answers"))
    except polls.InvalidAnswers as exc:
        raise InvalidBroadcast(str(exc)) from None
    return {"text": text, "media_url": media_url, "send_at": send_at,
            "expires_at": expires_at, "urgent": urgent, "public": public,
            "topics": _topics(data.get("topics"), topics),
            "translations": check_translations(data.get("translations"), languages, template),
            "answers": answers}


def _text(value, name, template):
    if not isinstance(value, str) or not value.strip():
        raise InvalidBroadcast(f"{name} is missing or empty")
    value = value.strip()
    if "\x00" in value:
        raise InvalidBroadcast(f"{name} contains a NUL character")
    if _NOT_UNICODE.search(value):
        raise InvalidBroadcast(f"{name} is not valid Unicode text (a lone surrogate, or bytes "
                               "that are not UTF-8)")
    limit = text_limit(template)
    if len(value) > limit:
        if template:
            raise InvalidBroadcast(
                f"{name} is {len(value)} characters; sent as the approved template it may have "
                f"at most {limit} (WhatsApp takes {TEMPLATE_TEXT_LIMIT} with the template's own "
                f"words, which take {TEMPLATE_TEXT_LIMIT - limit}: TEMPLATE_FIXED_CHARACTERS)")
        raise InvalidBroadcast(
            f"{name} is {len(value)} characters; a free-form message holds at most {limit}")
    return value


def check_stored(broadcast, settings):
    """InvalidBroadcast when a stored broadcast's text or one of its translations is longer
    than the current limit allows, with the reason a new one would get. A draft, one waiting
    for approval or a planned one may have been written under a larger limit (before
    TEMPLATE_FIXED_CHARACTERS was raised, or when broadcasts went out free-form); sent as
    it is, WhatsApp would refuse it for every reader of that language."""
    template = template_mode(settings)
    _text(broadcast["text"], "text", template)
    for code, text in sorted((broadcast.get("translations") or {}).items()):
        _text(text, f"translations.{code}", template)


def _topics(value, configured):
    """The slugs a broadcast is for, each one configured; [] for the subscribers of
    everything."""
    if value in (None, []):
        return []
    if not isinstance(value, list) or not all(isinstance(slug, str) for slug in value):
        raise InvalidBroadcast("topics must be a list of topic slugs")
    for slug in value:
        if slug not in configured:
            known = ", ".join(configured) if configured else "none are configured (TOPICS)"
            raise InvalidBroadcast(f"unknown topic {slug!r} (topics: {known})")
    return list(dict.fromkeys(value))


def check_translations(value, languages, template):
    """{language: text} in further languages the channel speaks, each within the limit."""
    if value in (None, {}):
        return {}
    if not isinstance(value, dict):
        raise InvalidBroadcast("translations must be an object of language code: text")
    out = {}
    for code, text in value.items():
        if code not in languages:
            spoken = ", ".join(languages) if languages else "none besides the main one"
            raise InvalidBroadcast(f"translation into {code!r}: the channel does not speak it "
                                   f"(further languages: {spoken}; LANGUAGES)")
        out[code] = _text(text, f"translations.{code}", template)
    return out


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


def check(data, settings):
    """``validate`` with what the configuration allows (template mode, time zone, topics,
    languages, media, the templates a poll needs)."""
    fields = validate(data, template_mode(settings), settings["TIMEZONE"],
                      topics=[t.slug for t in settings["TOPIC_LIST"]],
                      languages=settings["LANGUAGE_LIST"][1:])
    try:
        polls.check_sendable(fields["answers"], fields, settings, config.Mode.of(settings).demo)
    except polls.InvalidAnswers as exc:
        raise InvalidBroadcast(str(exc)) from None
    check_media(fields["media_url"], settings)
    return fields


# Per platform: the text template's setting, the media templates' setting and their loaded
# {language or None: {kind: template}}.
_MEDIA_SETTINGS = {"meta": ("META_TEMPLATE", "META_MEDIA_TEMPLATE", "META_MEDIA_TEMPLATES"),
                   None: ("BROADCAST_CONTENT_SID", "BROADCAST_MEDIA_CONTENT_SID",
                          "MEDIA_CONTENT_SIDS")}


def _media_settings(settings):
    return _MEDIA_SETTINGS.get(settings.get("WHATSAPP_PLATFORM"), _MEDIA_SETTINGS[None])


def _templated(settings):
    """Whether broadcasts go out as the text template on this platform."""
    return bool(settings.get(_media_settings(settings)[0]))


def media_allowed(settings, kind=None):
    """Whether a broadcast may carry a picture, video or PDF (``kind``: image, video or
    document; None: any of them). Free-form messages carry any; where broadcasts go out as
    the text template (BROADCAST_CONTENT_SID on Twilio, META_TEMPLATE on Meta), only an
    approved template with a media header of the file's kind carries it
    (BROADCAST_MEDIA_CONTENT_SID, META_MEDIA_TEMPLATE)."""
    kinds = media_kinds(settings)
    return bool(kinds) if kind is None else kind in kinds


def media_kinds(settings):
    """The kinds of file a broadcast may carry (image, video, document), for the console to
    offer only those: all in free-form mode, else those with a media template in the main
    language and in every further language that has media templates of its own (a language
    without uses the main one's)."""
    if not _templated(settings):
        return media.KINDS
    return tuple(kind for kind in media.KINDS if not _lacking(settings, kind))


def _lacking(settings, kind):
    """The setting that would need ``kind`` for a broadcast with such a file to reach every
    language; None when none does."""
    setting = _media_settings(settings)[1]
    configured = settings.get(_media_settings(settings)[2]) or {}
    if kind not in (configured.get(None) or {}):
        return setting
    for code, kinds in configured.items():
        if code is not None and kind not in kinds:
            return f"{setting}_{config.setting_suffix(code)}"
    return None


def check_media(media_url, settings):
    """InvalidBroadcast when the configuration cannot send this file with the broadcast: said,
    not dropped, since the broadcast would otherwise go out as text alone."""
    if not media_url or not _templated(settings):
        return
    text_setting, media_setting, _ = _media_settings(settings)
    ours = media.is_ours(media_url, settings.get("PUBLIC_URL") or "")
    if media_setting == "BROADCAST_MEDIA_CONTENT_SID" and not ours:
        # Twilio's media template holds a fixed address with the file's name as its
        # variable: only files uploaded here fit it.
        raise InvalidBroadcast(
            "media_url must be a file uploaded here (POST /api/media) to be sent with the "
            f"media template ({media_setting}), whose address is PUBLIC_URL/media/…")
    kind = (media.kind_of_name(media_url) if ours else None) or "image"
    lacking = _lacking(settings, kind)
    if lacking:
        what = {"image": "picture", "video": "video", "document": "PDF"}[kind]
        raise InvalidBroadcast(
            f"media_url cannot be sent with the text template ({text_setting}), which "
            f"carries no {what}: set {lacking} with {kind}=… (an approved template "
            f"with a {kind} header), or send the text alone")


def actor_of(created_by):
    """The audit trail's actor for a broadcast's ``created_by`` (``console:NAME`` → NAME)."""
    return authorship.author(created_by)


def submit(database, data, settings, created_by, hold=None, admin=None):
    """Validate and store a broadcast; returns the answer dict. Raises InvalidBroadcast.

    ``settings``: the configuration (template mode, time zone, topics, languages, messaging
    tier, budget). ``hold``: None sends it (or schedules it); ``broadcasts.DRAFT`` keeps it as
    a draft; ``broadcasts.AWAITING`` makes it wait for a publisher's approval, asked for by the
    actor. Who may send, and what needs approval, the caller has decided (``approval.decide``);
    ``admin``: whether the console account is an admin (None: a machine), for the budget,
    which decides here, right before the write (``budget``, with the plan's cost): one over it
    from a publisher waits for an admin.
    """
    fields = check(data, settings)
    actor = actor_of(created_by)
    # Read before the write, outside its lock, which every webhook waits for: what the queue
    # and the month hold before this broadcast joins them (the audience moves only with a
    # Start or Stop meanwhile). The month, which another broadcast may move meanwhile, is
    # read again inside the lock (``plan.refreshed``).
    the_plan = plan.of(database.conn, settings, fields)
    total = the_plan["cost"]["total"]
    found = (None if hold == broadcasts.DRAFT else
             budget.verdict(database.conn, settings, fields["urgent"], fields["topics"],
                            cost=None if total is None else Decimal(str(total)),
                            month=the_plan["month"]))
    with write(database, durable=True) as conn:
        if found is not None:
            # Judged again on the month as the lock leaves it: a broadcast committed since
            # the plan was read (another sent at the same moment) counts.
            fresh = plan.refreshed(conn, settings, fields, the_plan)
            if fresh is not the_plan:
                the_plan = fresh
                found = budget.verdict(conn, settings, fields["urgent"], fields["topics"],
                                       cost=found.cost, month=the_plan["month"])
        if hold is None and budget.needs_admin(found, fields["urgent"], created_by, admin):
            hold = broadcasts.AWAITING
        broadcast_id, status, recipients = broadcasts.create(
            conn, created_by=created_by, draft=hold == broadcasts.DRAFT,
            awaiting_approval_of=actor if hold == broadcasts.AWAITING else None,
            categories=settings.get("TEMPLATE_CATEGORIES"), **fields)
        if budget.over(found):
            approvals.mark_over_budget(conn, broadcast_id)
        audit.record(conn, actor, "broadcast_created", f"broadcast:{broadcast_id}",
                     summary(fields, status=status, recipients=recipients,
                             **budget.details(found)))
    answer = {"id": broadcast_id, "status": status, "recipients": recipients,
              "urgent": fields["urgent"], "send_at": fields["send_at"],
              "expires_at": fields["expires_at"], "topics": fields["topics"],
              "translations": fields["translations"], "answers": fields["answers"],
              "public": fields["public"], "over_budget": budget.over(found), "warnings": list(the_plan["warnings"]),
              "plan": the_plan}
    if budget.over(found) and plan.OVER_BUDGET not in the_plan["warning_codes"]:
        # The plan cannot tell without a price for every recipient; the budget counts those
        # at nothing and may still be over.
        answer["warnings"].append(budget.warning(found, settings["CURRENCY"]))
    return answer


def plan_of(database, data, settings):
    """What a broadcast of ``data`` would do (``plan.of``), checked exactly as ``submit``
    checks it, creating nothing. Raises InvalidBroadcast."""
    return plan.of(database.conn, settings, check(data, settings))


def summary(fields, **more):
    """What the audit trail keeps of a broadcast: flags, times, counts and the text's hash,
    never the text (it may quote anyone) or a picture's address."""
    kept = {"text_sha256": audit.text_hash(fields["text"]), "urgent": bool(fields["urgent"]),
            "media": bool(fields.get("media_url"))}
    for name in ("public", "send_at", "expires_at"):
        if name in fields and fields[name] not in (None, ""):
            kept[name] = fields[name]
    if fields.get("topics"):
        kept["topics"] = list(fields["topics"])
    if fields.get("translations"):
        kept["languages"] = sorted(fields["translations"])
    if fields.get("answers"):
        kept["poll_answers"] = len(fields["answers"])
    kept.update(more)
    return kept


DRAFT_FIELDS = ("text", "urgent")


def _outdated_translations(conn, broadcast_id, before, after):
    """A changed text makes its translations outdated: they are removed, so that nobody gets
    what the text said before (a reader of another language gets the new main text).
    Returns the languages removed."""
    return broadcasts.drop_translations(conn, broadcast_id) if before != after else []


def edit_draft(database, broadcast_id, data, settings, actor=audit.API, publishes=False):
    """Change a draft's text or urgency, checked as a new broadcast's would be. Returns the
    languages whose translations were removed with a changed text. ``publishes``: the account
    has a publisher's role or above (the machines, ``authorship.MACHINES``, need none). A form
    sent back unchanged changes nothing and needs no right to change. Raises
    BroadcastNotFound, NotADraft, InvalidBroadcast, authorship.ForeignDraft."""
    if not isinstance(data, dict):
        raise InvalidBroadcast('expected a JSON object with "text" and/or "urgent"')
    unknown = sorted(set(data) - set(DRAFT_FIELDS))
    if unknown:
        raise InvalidBroadcast(f"only text and urgent of a draft can be changed, not {unknown}")
    with write(database, durable=True) as conn:
        current = _draft(conn, broadcast_id)
        merged = {name: data.get(name, current[name]) for name in DRAFT_FIELDS}
        fields = validate(merged, template_mode(settings), settings["TIMEZONE"])
        _check_poll(conn, broadcast_id, fields, current, settings)
        if (fields["text"], fields["urgent"]) == (current["text"], current["urgent"]):
            return []
        # Checked on the row read in this transaction: what decides is who wrote it now.
        authorship.check(current["created_by"], actor, publishes)
        marked = authorship.mark(current["created_by"], actor)
        broadcasts.edit_draft(conn, broadcast_id, fields["text"], fields["urgent"],
                              edited_by=marked)
        dropped = _outdated_translations(conn, broadcast_id, current["text"], fields["text"])
        more = {"translations_removed": dropped} if dropped else {}
        if marked:
            more["author"] = authorship.author(current["created_by"])
        audit.record(conn, actor, "broadcast_edited", f"broadcast:{broadcast_id}",
                     summary(dict(fields, topics=current["topics"], public=current["public"]),
                             status=broadcasts.DRAFT, **more))
        return dropped


def send_draft(database, broadcast_id, settings, actor=audit.API):
    """Queue a draft for every subscriber now (or schedule it, when it has a time still to
    come); its text and translations are checked again, since the mode's limit may have
    changed since they were written. Returns how many it reaches. Over the budget it goes all
    the same, marked: the console asks ``budget.needs_admin`` before it sends one
    (``approval.request`` instead)."""
    with write(database, durable=True) as conn:
        current = _draft(conn, broadcast_id)
        check_stored(current, settings)
        found = budget.verdict(conn, settings, current["urgent"], current["topics"],
                               send_at=current["send_at"])
        try:
            recipients = broadcasts.send_draft(conn, broadcast_id)
        except broadcasts.Expired:
            raise InvalidBroadcast("expires_at has passed: the draft can no longer go out") \
                from None
        approvals.mark_over_budget(conn, broadcast_id, budget.over(found))
        audit.record(conn, actor, "broadcast_sent", f"broadcast:{broadcast_id}",
                     summary(current, status=broadcasts.status_of(conn, broadcast_id),
                             recipients=recipients, **budget.details(found)))
        return recipients


def discard_draft(database, broadcast_id, actor=audit.API):
    with write(database) as conn:
        broadcasts.discard_draft(conn, broadcast_id)
        audit.record(conn, actor, "broadcast_discarded", f"broadcast:{broadcast_id}")


def cancel(database, broadcast_id, actor):
    """Stop what has not gone out yet. Raises BroadcastNotFound, BroadcastClosed."""
    with write(database) as conn:
        status = broadcasts.status_of(conn, broadcast_id)
        broadcasts.cancel(conn, broadcast_id)
        audit.record(conn, actor, "broadcast_cancelled", f"broadcast:{broadcast_id}",
                     {"was": status})


def resume(database, broadcast_id, actor, settings):
    """Resume a paused broadcast (bad credentials fixed, a text shortened). Its text and
    translations are checked against the limit now first: one held for a text too long stays
    held until it fits. Raises BroadcastNotFound, BroadcastClosed, InvalidBroadcast."""
    with write(database) as conn:
        current = broadcasts.get(conn, broadcast_id)
        if current["status"] == "paused":
            check_stored(current, settings)
        try:
            broadcasts.resume(conn, broadcast_id)
        except broadcasts.Expired:
            raise InvalidBroadcast("expires_at has passed: the broadcast can no longer go out") \
                from None
        audit.record(conn, actor, "broadcast_resumed", f"broadcast:{broadcast_id}")


SCHEDULED_FIELDS = ("text", "media_url", "send_at", "expires_at", "urgent")


def edit_scheduled(database, broadcast_id, data, settings, actor, needs_approval=False,
                   admin=None):
    """Change a planned broadcast that has not started (text, picture, times, urgency), checked
    as a new one would be. With ``needs_approval`` it waits for approval again; so it does
    when it is over the budget now and ``admin`` (whether the console account is one) is
    False, as a new one would (say, no longer urgent). Returns its status afterwards and the
    languages whose translations went with a changed text. Raises BroadcastNotFound,
    WrongStatus, InvalidBroadcast."""
    fields = check({name: data.get(name) for name in SCHEDULED_FIELDS}, settings)
    with write(database, durable=True) as conn:
        current = broadcasts.get(conn, broadcast_id)
        if fields["text"] == current["text"]:
            # The translations stay with an unchanged text (a changed one drops them): they
            # must fit the limit as it is now, not as it was when they were written.
            check_stored(dict(current, text=fields["text"]), settings)
        _check_poll(conn, broadcast_id, fields, current, settings)
        found = budget.verdict(conn, settings, fields["urgent"], current["topics"],
                               send_at=fields["send_at"], exclude=broadcast_id)
        if budget.needs_admin(found, fields["urgent"], current["created_by"], admin):
            needs_approval = True
        approvals.mark_over_budget(conn, broadcast_id, budget.over(found))
        marked = authorship.mark(current["created_by"], actor)
        status = approvals.edit_scheduled(conn, broadcast_id, fields,
                                          awaiting_approval_of=actor if needs_approval else None,
                                          edited_by=marked)
        dropped = _outdated_translations(conn, broadcast_id, current["text"], fields["text"])
        more = {"translations_removed": dropped} if dropped else {}
        if marked:
            more["author"] = authorship.author(current["created_by"])
        audit.record(conn, actor, "broadcast_edited", f"broadcast:{broadcast_id}",
                     summary(dict(fields, topics=current["topics"], public=current["public"]),
                             status=status, **more, **budget.details(found)))
    return status, dropped


def _check_poll(conn, broadcast_id, fields, current, settings):
    """A changed poll must still be one that can go out (no picture, a short enough text)."""
    answers = stored_polls.answers_of(conn, broadcast_id)
    try:
        polls.check_sendable(answers, dict(fields, translations=current["translations"] or {}),
                             settings, config.Mode.of(settings).demo)
    except polls.InvalidAnswers as exc:
        raise InvalidBroadcast(str(exc)) from None


def set_public(database, broadcast_id, public, actor):
    """Keep a broadcast off the public page and feed (``public`` False), or show it again."""
    with write(database) as conn:
        before = approvals.set_public(conn, broadcast_id, public)
        if before != public:
            audit.record(conn, actor, "broadcast_archive_restored" if public
                         else "broadcast_archive_removed", f"broadcast:{broadcast_id}")
    return before


def _draft(conn, broadcast_id):
    current = broadcasts.get(conn, broadcast_id)
    if current["status"] != broadcasts.DRAFT:
        raise broadcasts.NotADraft(current["status"])
    return current
