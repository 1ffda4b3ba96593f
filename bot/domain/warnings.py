"""Official warnings, relayed by themselves: what the relay does with what the feed says.

The worker reads the federal warning feed (``nina``) and hands each new or changed warning to
``take`` and every complete dashboard to ``after_poll``: plain functions on a database, one
short write transaction each, so that a crash leaves a warning either relayed and recorded, or
neither. The rules:

- A new warning at or above ``WARNINGS_MIN_SEVERITY`` becomes an urgent broadcast to every
  subscriber (``WARNINGS_MODE=send``) or a draft for the press office (``draft``); below the
  threshold it is a draft in both modes, never sent by itself.
- A new revision of a warning citizens got (a new version or hash of it, or a warning that
  refers to it) goes out once, beginning with "Aktualisierung:"; one whose text is what they
  already got is recorded and not sent. A draft that a newer revision outdates is discarded;
  if citizens never got the warning, the newer revision is a fresh warning to them. Once the
  press office cancelled a broadcast of a warning, its updates wait as drafts.
- A cancellation, or a warning missing from the dashboard at two complete polls in a row (one
  bad answer must not sound the all-clear), ends the chain with one "Entwarnung:" and the
  headline, if citizens got the warning; it goes out by itself when what they got was at or
  above the threshold, and is a draft otherwise.

Every broadcast the relay writes is written in ``_relay``: that is where the audit trail records
it, with the actor ``nina``; a draft it discards is recorded where it discards it.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timezone

from .. import config as settings_module
from .. import nina
from ..store import audit, broadcasts, warnings
from ..store.db import write
from . import announcements

ACTOR = audit.NINA  # created_by of every broadcast the relay writes, and its audit actor
SEPARATOR = "\n\n"
# A part shorter than this after shortening says nothing useful and is left out.
SHORTEST_PART = 40


@dataclass(frozen=True)
class Relay:
    """What relaying needs of the deployment, assembled once when the worker starts."""

    min_severity: str
    send: bool           # WARNINGS_MODE=send: at or above the threshold goes out by itself
    providers: frozenset
    template: bool       # the mode's text limit: template variable or free-form body
    language: str        # whose info block to read, and the language of our own words
    texts: object

    @classmethod
    def of(cls, config, texts):
        return cls(min_severity=config["WARNINGS_MIN_SEVERITY"],
                   send=config["WARNINGS_MODE"] == "send",
                   providers=frozenset(settings_module.providers(config["WARNINGS_PROVIDERS"])),
                   template=announcements.template_mode(config),
                   language=config["LANGUAGE"], texts=texts)

    @property
    def limit(self):
        return announcements.text_limit(self.template)

    def goes_out_by_itself(self, severity):
        return self.send and nina.severity_rank(severity) >= nina.severity_rank(
            self.min_severity)


@dataclass(frozen=True)
class Outcome:
    """What became of a warning, for the worker's log."""

    warning_id: str
    kind: str
    broadcast_id: int | None = None
    status: str | None = None  # the broadcast's: queued (sent by itself) or draft
    reason: str = ""
    # Nothing was recorded (nothing to tell, e.g. a revision of an ended warning); the worker
    # need not read this revision again while it runs.
    settled: bool = False


def wanted(database, relay, entries, settled=frozenset()):
    """The dashboard's entries whose detail must be read: from a relayed provider, a revision
    not acted on yet, of a warning that has not ended; oldest first, so that a warning is
    taken before an update of it that came under an id of its own."""
    conn = getattr(database, "conn", database)
    ids = [entry.id for entry in entries]
    done = warnings.recorded_revisions(conn, ids)
    ended = warnings.ended_ids(conn, ids)
    chosen = [entry for entry in entries
              if entry.provider in relay.providers and entry.id not in ended
              and _revision(entry) not in done and _revision(entry) not in settled]
    return sorted(chosen, key=_sent)


def _sent(entry):
    """When the feed says a warning was sent, for ordering; unreadable times first."""
    try:
        moment = datetime.fromisoformat(entry.sent)
    except ValueError:
        return float("-inf")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _revision(entry):
    return (entry.id, entry.version, entry.hash)


def take(database, relay, entry, detail, now):
    """Act on one new or changed warning: a broadcast, a draft, or knowingly nothing."""
    with write(database, durable=True) as conn:
        return _take(conn, relay, entry, detail, now)


def _take(conn, relay, entry, detail, now):
    if warnings.is_recorded(conn, *_revision(entry)):
        return Outcome(entry.id, "", reason="already relayed", settled=True)
    if detail.status != "Actual":
        # Exercises, tests and system messages are not meant for the public.
        return Outcome(entry.id, "", reason=f"status {detail.status}, not for the public",
                       settled=True)
    thread = warnings.thread_of(conn, entry.id) or next(
        (found for reference in detail.references
         if (found := warnings.thread_referred_to(conn, reference))), None)
    if thread is not None and warnings.is_ended(conn, thread):
        return Outcome(entry.id, "", reason="the warning has ended", settled=True)
    cancel = detail.msg_type == nina.CANCEL
    if thread is None and cancel:
        return Outcome(entry.id, "", reason="cancels a warning that was not relayed",
                       settled=True)
    kind = (warnings.ALERT if thread is None
            else warnings.ALL_CLEAR if cancel else warnings.UPDATE)
    row = warnings.Relayed(
        warning_id=entry.id, version=entry.version, hash=entry.hash,
        thread=thread or entry.id, kind=kind, provider=entry.provider,
        severity=detail.severity or entry.severity, headline=detail.headline,
        broadcast_id=None)
    if kind == warnings.ALL_CLEAR:
        return _end(conn, relay, row, warnings.latest(conn, row.thread), detail, now)
    told = warnings.last_text(conn, row.thread)
    _discard_drafts(conn, row.thread)
    # Citizens who never got the warning get this revision as the warning itself.
    text = compose(relay, kind if told is not None else warnings.ALERT, detail)
    if told is not None and _news(relay, told) == _news(relay, text):
        warnings.record(conn, row, now)
        return Outcome(entry.id, kind, reason="its text is what citizens already got")
    # A warning the press office cancelled is theirs to judge: its updates wait as drafts.
    by_itself = (relay.goes_out_by_itself(row.severity)
                 and not warnings.was_cancelled(conn, row.thread))
    return _relay(conn, relay, row, text, draft=not by_itself, now=now)


def after_poll(database, relay, present_ids, now, complete):
    """The dashboard at ``now`` listed ``present_ids``. After a complete poll (the dashboard
    and every detail read), chains missing then and at the complete poll before end with an
    all-clear; the time of the poll is kept (``warnings_polled_at``)."""
    with write(database, durable=True) as conn:
        warnings.seen(conn, present_ids, now)
        if not complete:
            return []
        outcomes = []
        previous = warnings.polled_at(conn)
        if previous is not None:
            for thread, latest in warnings.vanished(conn, previous):
                row = replace(latest, kind=warnings.ALL_CLEAR, broadcast_id=None)
                outcomes.append(_end(conn, relay, row, latest, None, now))
        warnings.set_polled_at(conn, now)
        return outcomes


def _end(conn, relay, row, latest, detail, now):
    """One all-clear for a chain, if citizens got any of it; its drafts are outdated."""
    _discard_drafts(conn, row.thread)
    sent = warnings.severities_sent(conn, row.thread)
    headline = latest.headline if latest is not None else row.headline
    if not sent:
        warnings.record(conn, replace(row, headline=headline), now)
        return Outcome(row.warning_id, row.kind, reason="ended before citizens got it")
    severity = max(sent, key=nina.severity_rank)
    row = replace(row, severity=severity, headline=headline,
                  provider=latest.provider if latest is not None else row.provider)
    return _relay(conn, relay, row, compose_all_clear(relay, headline, detail),
                  draft=not relay.goes_out_by_itself(severity), now=now)


def _relay(conn, relay, row, text, draft, now):
    """Write the broadcast for a warning and record it, in the caller's transaction: the one
    place where the relay creates a broadcast."""
    fields = announcements.validate({"text": text, "urgent": True}, relay.template)
    broadcast_id, status, recipients = broadcasts.create(conn, created_by=ACTOR, draft=draft,
                                                         **fields)
    warnings.record(conn, replace(row, broadcast_id=broadcast_id), now)
    audit.record(conn, ACTOR, "warning_relayed", f"broadcast:{broadcast_id}", {
        "warning": row.warning_id, "version": row.version, "kind": row.kind,
        "provider": row.provider, "severity": row.severity, "status": status,
        "recipients": recipients, "text_sha256": audit.text_hash(text)})
    reason = ("a draft for the press office" if draft else "sent to every subscriber")
    return Outcome(row.warning_id, row.kind, broadcast_id, status, reason)


def _discard_drafts(conn, thread):
    for broadcast_id in warnings.drafts_of(conn, thread):
        broadcasts.discard_draft(conn, broadcast_id)
        audit.record(conn, ACTOR, "broadcast_discarded", f"broadcast:{broadcast_id}",
                     {"reason": "outdated by a newer revision of the warning"})


# -- the text --------------------------------------------------------------------------------

def compose(relay, kind, detail):
    """A warning as citizens read it: headline, description (shortened to fit), what to do,
    where to read more; an update begins with the texts' word for it ("Aktualisierung:")."""
    headline = detail.headline
    if kind == warnings.UPDATE:
        headline = _prefixed(relay.texts.get("warning_update"), headline)
    return fit(relay.limit, headline, detail.description, detail.instruction,
               _more(relay, detail.more_url))


def compose_all_clear(relay, headline, detail=None):
    """"Entwarnung:" and the headline; then what a cancellation says, or that it is lifted."""
    texts = relay.texts
    description = detail.description if detail is not None else ""
    return fit(relay.limit, _prefixed(texts.get("warning_all_clear"), headline),
               description or texts.get("warning_all_clear_text"),
               detail.instruction if detail is not None else "",
               _more(relay, detail.more_url) if detail is not None else "")


def _more(relay, url):
    return f"{relay.texts.get('warning_more')} {url}"


def _prefixed(word, headline):
    """``word`` before the headline, unless the source's headline already begins with it."""
    bare = word.rstrip(":").strip().casefold()
    if bare and headline.casefold().startswith(bare):
        return headline
    return f"{word} {headline}"


def _news(relay, text):
    """A text without the update word, for telling whether an update says anything new."""
    word = relay.texts.get("warning_update")
    return text.removeprefix(word).strip()


def fit(limit, headline, description, instruction, link):
    """The parts, separated by blank lines, in at most ``limit`` characters: the description
    gives way first, then the instruction, then the headline; the link stays whole, since a
    cut link leads nowhere."""
    parts = {"headline": headline, "description": description, "instruction": instruction}

    def text():
        return SEPARATOR.join(p for p in (parts["headline"], parts["description"],
                                          parts["instruction"], link) if p)

    for name in ("description", "instruction", "headline"):
        over = len(text()) - limit
        if over <= 0:
            break
        room = len(parts[name]) - over
        if room < SHORTEST_PART and name != "headline":
            parts[name] = ""
        else:
            parts[name] = shorten(parts[name], max(room, 1))
    return text()[:limit]


def shorten(text, length):
    """``text`` in at most ``length`` characters, cut after a whole word, ending in "…"."""
    if len(text) <= length:
        return text
    cut = text[:length - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= length * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–\n") + "…"
