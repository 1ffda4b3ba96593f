"""Correcting a broadcast that went out ("Berichtigung"): a new broadcast, to exactly those the
original reached (``store.corrections``), beginning with "Berichtigung:" and the original's
first words so that the reader knows which message it corrects. It may come in the channel's
further languages as a broadcast may (``translations``): who got the original in one of them
gets the correction in it, quoting the original as they read it; the others get the main text.

The same correction written again soon after (a double click, a browser's resend, an API
client's retry after a lost answer) is not a second correction: it is refused, naming the
first, so that nobody gets it twice.

A correction follows the rules of any broadcast: the API's token sends it at once; in the
console it waits for a second publisher's approval when a new broadcast of that urgency would
(``approval.must_wait``: an editor's always), and for an admin's when it would take the month
over its budget (``budget``, with its cost for those it reaches). It is as urgent as the
original, as public, for the same topics. The audit trail's entry names the original.
"""

from ..store import approvals, audit, broadcasts, corrections
from ..store.db import now_iso, write
from ..wording import TEXTS
from . import announcements, budget, costs

PREFIX = "Berichtigung:"
# What a correction begins with where no channel's texts are at hand (``wording``'s German).
HEAD = TEXTS["de"]["correction_head"]
# How much of the original the correction quotes: enough to recognise it.
QUOTE_WORDS = 8
QUOTE_CHARACTERS = 60
# Statuses of a broadcast that has finished going out: what it reached is settled.
FINISHED = ("done", "cancelled")
# How long the same text again is taken for a resend of the same correction. Longer than any
# client's retries; short enough that repeating a correction on purpose stays possible.
REPEAT_SECONDS = 10 * 60


class CannotCorrect(Exception):
    """The broadcast cannot be corrected now; the message says why, in plain words."""

    fields = {}  # what an API answer tells besides the reason


class AlreadyCorrected(CannotCorrect):
    """The same correction was written moments ago: ``existing`` is its id."""

    def __init__(self, message, existing):
        super().__init__(message)
        self.existing = existing
        self.fields = {"existing": existing}


def quote(text):
    """The original's first words, on one line, shortened with "…"."""
    words = text.split()
    taken = []
    for word in words[:QUOTE_WORDS]:
        if len(" ".join(taken + [word])) > QUOTE_CHARACTERS:
            break
        taken.append(word)
    if not taken:  # one very long word
        return words[0][:QUOTE_CHARACTERS - 1] + "…"
    return " ".join(taken) + ("…" if len(taken) < len(words) else "")


def head(original_text, form=HEAD):
    """What every correction of this text begins with, in the language of ``form`` (the
    channel's ``correction_head`` text)."""
    return form.format(quote=quote(original_text)) + " "


def _own_words(text, form):
    """The text without a "Berichtigung:" (or the form's own first word, "Correction:") the
    press office wrote before it: the head says it already."""
    text = text.strip()
    word, colon, _ = form.partition(":")
    markers = {PREFIX} | ({word + colon} if colon and " " not in word else set())
    for marker in markers:
        if text.casefold().startswith(marker.casefold()):
            return text[len(marker):].strip()
    return text


def compose(original_text, text, form=HEAD):
    """The correction's text: the head, then what the press office wrote."""
    return head(original_text, form) + _own_words(text, form)


def heads(texts):
    """{None (the main language) or code: the correction's head form} of the channel's texts;
    without texts the built-in German for every language."""
    if texts is None:
        return {}
    return {None if code == texts.main else code: texts.messages[code]["correction_head"]
            for code in texts.languages}


def _checked_text(value, original_text, settings, name="text", form=HEAD):
    if not isinstance(value, str) or not _own_words(value, form):
        raise announcements.InvalidBroadcast(f"{name} is missing or empty: write what is right")
    template = announcements.template_mode(settings)
    limit = announcements.text_limit(template)
    full = compose(original_text, value, form)
    if len(full) > limit:
        start = head(original_text, form)
        mode = "sent as the approved template" if template else "as a free-form message"
        raise announcements.InvalidBroadcast(
            f"{name} is too long: a correction begins with {start.strip()!r}, so "
            f"{limit - len(start)} characters are left for the text of the {limit} it may have "
            f"{mode} (this one is {len(full) - len(start)})")
    # The checks every broadcast's text gets (NUL, broken Unicode).
    try:
        return announcements.validate({"text": full}, template, settings["TIMEZONE"])["text"]
    except announcements.InvalidBroadcast as exc:
        raise announcements.InvalidBroadcast(str(exc).replace("text", name, 1)) from None


def _checked_translations(value, original, settings, forms):
    """{language: full correction text}: each quotes the original as its readers got it
    (its translation into that language, else its main text), in that language's words."""
    template = announcements.template_mode(settings)
    given = announcements.check_translations(value, settings["LANGUAGE_LIST"][1:], template)
    return {code: _checked_text(text, (original["translations"] or {}).get(code)
                                or original["text"], settings, f"translations.{code}",
                                forms.get(code, HEAD))
            for code, text in given.items()}


def check_correctable(conn, original):
    """Raise CannotCorrect when the broadcast (``broadcasts.get``) cannot be corrected now;
    else how many a correction would reach."""
    number, status = original["id"], original["status"]
    if status in (*broadcasts.HELD, "scheduled"):
        raise CannotCorrect(f"broadcast {number} has not been sent yet ({status}): change it "
                            "instead of correcting it")
    if status == broadcasts.DISCARDED:
        raise CannotCorrect(f"broadcast {number} was discarded and never sent")
    if status not in FINISHED:
        raise CannotCorrect(
            f"broadcast {number} is still going out ({status}): a correction goes to those it "
            "reached, so wait until it is done, or cancel it first")
    reached = corrections.reached(conn, number)
    if not reached:
        raise CannotCorrect(
            f"broadcast {number} reached no one who is still subscribed (or its deliveries are "
            "older than RETENTION_DELIVERY_DAYS and no longer say whom): nobody to correct it "
            "for")
    return reached


def correct(database, original_id, data, settings, created_by, hold=None, admin=None,
            texts=None):
    """Write the correction of broadcast ``original_id`` (``data``: ``{"text": …}``, and
    optionally ``"translations": {language: text}``): sent at once, or waiting for approval
    (``hold`` = ``broadcasts.AWAITING``, asked for by the actor; so it does over the budget
    when ``admin``, whether the console account is one, is False). ``texts``: the channel's
    texts, whose ``correction_head`` each language's correction begins with (without them, the
    built-in German). Returns the answer dict.
    Raises BroadcastNotFound, CannotCorrect (AlreadyCorrected for the same text again within
    REPEAT_SECONDS), InvalidBroadcast.
    """
    if not isinstance(data, dict):
        raise announcements.InvalidBroadcast('expected a JSON object with a "text" field')
    unknown = sorted(set(data) - {"text", "translations"})
    if unknown:
        raise announcements.InvalidBroadcast(
            f"a correction takes only its text and translations, not {unknown}: it goes when, "
            "to whom and as urgently as the broadcast it corrects")
    actor = announcements.actor_of(created_by)
    with write(database, durable=True) as conn:
        original = broadcasts.get(conn, original_id)
        forms = heads(texts)
        text = _checked_text(data.get("text"), original["text"], settings,
                             form=forms.get(None, HEAD))
        translations = _checked_translations(data.get("translations"), original, settings,
                                             forms)
        reached = check_correctable(conn, original)
        earlier = corrections.same_since(conn, original_id, text, now_iso(-REPEAT_SECONDS))
        if earlier is not None:
            raise AlreadyCorrected(
                f"broadcast {original_id} was corrected with this same text minutes ago "
                f"(broadcast {earlier}): nothing was sent again. To repeat it on purpose, wait "
                f"{REPEAT_SECONDS // 60} minutes or change the text", earlier)
        fields = {"text": text, "urgent": original["urgent"], "public": original["public"],
                  "topics": original["topics"], "translations": translations or None}
        # Priced at the main language's category, as its original would be for most readers.
        found = budget.verdict(conn, settings, fields["urgent"], fields["topics"],
                               cost=costs.priced(settings, {
                                   settings["TEMPLATE_CATEGORIES"][None]: reached}))
        if hold is None and budget.needs_admin(found, fields["urgent"], created_by, admin):
            hold = broadcasts.AWAITING
        broadcast_id, status, recipients = broadcasts.create(
            conn, created_by=created_by, corrects=original_id,
            awaiting_approval_of=actor if hold == broadcasts.AWAITING else None,
            categories=settings.get("TEMPLATE_CATEGORIES"), **fields)
        if budget.over(found):
            approvals.mark_over_budget(conn, broadcast_id)
        audit.record(conn, actor, "broadcast_corrected", f"broadcast:{broadcast_id}",
                     announcements.summary(fields, status=status, recipients=recipients,
                                           corrects=original_id, **budget.details(found)))
    return {"id": broadcast_id, "status": status, "recipients": recipients,
            "corrects": original_id, "text": text, "translations": translations,
            "urgent": fields["urgent"],
            "public": fields["public"], "topics": fields["topics"],
            "over_budget": budget.over(found)}
