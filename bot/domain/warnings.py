"""Official warnings, relayed by themselves: what the relay does with what the feed says.

The worker reads the federal warning feed (``nina``) and hands each new or changed warning to
``take``, every dashboard to ``ended_chains`` and each chain that ended to ``end_chain``: plain
functions on a database, one short write transaction each, so that a crash (or one warning
that cannot be relayed) leaves a warning either relayed and recorded, or neither. The rules:

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
- Citizens who read a further language (``LANGUAGES``) get the warning's own block in it when
  the source sent one ("en-US", "de-LS"), with our words in their language; the others get
  the main language's block. It is still one broadcast, one message to each citizen; an
  update goes only to the readers of the languages whose text it changes.
- At most ``WARNINGS_MAX_PER_POLL`` broadcasts go out by themselves from one poll (``Budget``),
  the most severe first; the rest that would have are drafts marked as held back.

Every broadcast the relay writes is written in ``_relay``: that is where the audit trail records
it, with the actor ``nina``; a draft it discards is recorded where it discards it.

It is long because the rules above and the words they put before a headline belong together:
split, the all-clear's wording would drift from the rule that decides to send one.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from .. import config as settings_module
from .. import nina
from ..store import approvals, audit, broadcasts, warnings
from ..store.db import write
from . import announcements
from . import budget as monthly_budget  # "budget" here is a poll's (WARNINGS_MAX_PER_POLL)

ACTOR = audit.NINA  # created_by of every broadcast the relay writes, and its audit actor
SEPARATOR = "\n\n"
# A part shorter than this after shortening says nothing useful and is left out.
SHORTEST_PART = 40
# The sources' own words for an update or an end at the start of a headline ("1.
# AKTUALISIERUNG:", "2. Aktualisierung -", "UPDATE:", "Entwarnung –"): ours take their place.
_SOURCE_LABEL = re.compile(
    r"(?:\d{1,3}\s*\.\s*)?(?:aktualisierung|update|entwarnung|aufhebung|all[- ]clear"
    r"|cancel(?:l?ation)?)\s*[:\-–—]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Relay:
    """What relaying needs of the deployment, assembled once when the worker starts."""

    min_severity: str
    send: bool           # WARNINGS_MODE=send: at or above the threshold goes out by itself
    providers: frozenset
    template: int        # announcements.template_mode: a template's room for text, 0 free-form
    language: str        # whose info block to read, and the language of our own words
    texts: object
    # The further languages: a warning's own block in one of them goes to those who read it.
    languages: tuple = ()
    max_per_poll: int = 5  # broadcasts that go out by themselves from one poll, at most
    # the configuration, for the template categories a broadcast keeps and the monthly budget
    # (which never holds a warning back, but marks one that goes over it)
    settings: object = field(default=None, compare=False, hash=False)

    @classmethod
    def of(cls, config, texts):
        return cls(min_severity=config["WARNINGS_MIN_SEVERITY"],
                   send=config["WARNINGS_MODE"] == "send",
                   providers=frozenset(settings_module.providers(config["WARNINGS_PROVIDERS"])),
                   template=announcements.template_mode(config),
                   language=config.get("MAIN_LANGUAGE") or config["LANGUAGE"], texts=texts,
                   languages=tuple(config.get("LANGUAGE_LIST", ())[1:]),
                   max_per_poll=config["WARNINGS_MAX_PER_POLL"],
                   settings=config)

    @property
    def limit(self):
        return announcements.text_limit(self.template)

    def goes_out_by_itself(self, severity):
        return self.send and nina.severity_rank(severity) >= nina.severity_rank(
            self.min_severity)


class Budget:
    """How many broadcasts may still go out by themselves in one poll.

    A feed that lists hundreds of severe warnings at once (a fault at the source, or a real
    catastrophe that the sources describe warning by warning) must not become hundreds of
    messages to every citizen within a minute: ``relay.max_per_poll`` go out, the most severe
    first, and the press office sees the rest as drafts. Warnings are taken oldest first (an
    update may come under an id of its own), so a slot is kept for each more severe warning
    still to come in the poll, as the dashboard rates it.
    """

    def __init__(self, relay, entries=()):
        self.cap = relay.max_per_poll
        self.used = 0
        self.coming = [nina.severity_rank(entry.severity) for entry in entries
                       if relay.goes_out_by_itself(entry.severity)]

    def next(self, entry):
        """``entry`` is taken now: it no longer waits for a slot kept for it."""
        rank = nina.severity_rank(entry.severity)
        if rank in self.coming:
            self.coming.remove(rank)

    def allows(self, severity):
        rank = nina.severity_rank(severity)
        return self.used + sum(1 for coming in self.coming if coming > rank) < self.cap

    def spend(self, outcome):
        if outcome is not None and outcome.went_out:
            self.used += 1


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

    @property
    def went_out(self):
        """Whether a broadcast went out by itself (not a draft, not waiting for approval)."""
        return self.broadcast_id is not None and self.status not in broadcasts.HELD


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


def take(database, relay, entry, detail, now, budget=None):
    """Act on one new or changed warning: a broadcast, a draft, or knowingly nothing. Without
    a ``budget``, nothing is held back."""
    with write(database, durable=True) as conn:
        return _take(conn, relay, entry, detail, now, budget)


def _take(conn, relay, entry, detail, now, budget):
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
        return _end(conn, relay, row, warnings.latest(conn, row.thread), detail, now, budget)
    told = warnings.last_text(conn, row.thread)
    _discard_drafts(conn, row.thread)
    # Citizens who never got the warning get this revision as the warning itself.
    told_kind = kind if told is not None else warnings.ALERT
    text = compose(relay, told_kind, detail)
    texts = translations(relay, told_kind, detail)
    unchanged = () if told is None else _unchanged_languages(
        relay, told, warnings.last_translations(conn, row.thread), text, texts)
    if len(unchanged) == len(relay.languages) + 1:
        warnings.record(conn, row, now)
        return Outcome(entry.id, kind, reason="its text is what citizens already got")
    # A warning the press office cancelled is theirs to judge: its updates wait as drafts.
    by_itself = (relay.goes_out_by_itself(row.severity)
                 and not warnings.was_cancelled(conn, row.thread))
    return _relay(conn, relay, row, text, now, *_held_back(by_itself, row.severity, budget),
                  translations=texts, skipped_languages=unchanged)


def _held_back(by_itself, severity, budget):
    """(draft, held_back): a broadcast that would go out by itself is a draft when the poll's
    budget is spent."""
    if by_itself and budget is not None and not budget.allows(severity):
        return True, True
    return not by_itself, False


def ended_chains(database, present_ids, now, complete):
    """The dashboard at ``now`` listed ``present_ids``: the chains that end now, the most
    severe first. After a complete poll (the dashboard and every detail read, bar those that
    cannot be used), a chain missing then and at the complete poll before has ended; the time
    of the poll is kept (``warnings_polled_at``). Each is ended by ``end_chain``, one
    transaction each, so that a chain that cannot be ended (tried again at the next poll)
    does not hold up the others."""
    with write(database, durable=True) as conn:
        warnings.seen(conn, present_ids, now)
        if not complete:
            return []
        previous = warnings.polled_at(conn)
        warnings.set_polled_at(conn, now)
        if previous is None:
            return []
        threads = [thread for thread, _ in warnings.vanished(conn, previous)]
        return sorted(threads, key=lambda thread: -max(
            map(nina.severity_rank, warnings.severities_sent(conn, thread)), default=0))


def end_chain(database, relay, thread, now, budget=None):
    """The all-clear of a chain that vanished from the dashboard (see ``ended_chains``)."""
    with write(database, durable=True) as conn:
        latest = warnings.latest(conn, thread)
        if latest is None or warnings.is_ended(conn, thread):
            return Outcome(thread, warnings.ALL_CLEAR, reason="ended already")
        row = replace(latest, kind=warnings.ALL_CLEAR, broadcast_id=None)
        return _end(conn, relay, row, latest, None, now, budget)


def _end(conn, relay, row, latest, detail, now, budget):
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
    return _relay(conn, relay, row, compose_all_clear(relay, headline, detail), now,
                  *_held_back(relay.goes_out_by_itself(severity), severity, budget),
                  translations=all_clear_translations(
                      relay, detail, warnings.last_translations(conn, row.thread)))


def _relay(conn, relay, row, text, now, draft, held_back=False, translations=None,
           skipped_languages=()):
    """Write the broadcast for a warning and record it, in the caller's transaction: the one
    place where the relay creates a broadcast. ``held_back``: it would have gone out by
    itself, but the poll's budget was spent. ``translations``: {language: text} for the
    readers of further languages, in the same broadcast (each citizen gets one text);
    ``skipped_languages``: whose readers it leaves out ('' for the main language's)."""
    fields = announcements.validate(
        {"text": text, "urgent": True, "translations": translations or None}, relay.template,
        languages=relay.languages)
    settings = relay.settings or {}
    found = None if draft else monthly_budget.verdict(conn, settings, True, ())
    broadcast_id, status, recipients = broadcasts.create(
        conn, created_by=ACTOR, draft=draft, categories=settings.get("TEMPLATE_CATEGORIES"),
        skipped_languages=skipped_languages, **fields)
    if monthly_budget.over(found):
        approvals.mark_over_budget(conn, broadcast_id)
    warnings.record(conn, replace(row, broadcast_id=broadcast_id), now, held_back=held_back)
    details = {"warning": row.warning_id, "version": row.version, "kind": row.kind,
               "provider": row.provider, "severity": row.severity, "status": status,
               "recipients": recipients, "text_sha256": audit.text_hash(text),
               **({"languages": sorted(translations)} if translations else {}),
               **({"skipped_languages": sorted(skipped_languages)} if skipped_languages
                  else {}),
               **monthly_budget.details(found)}
    if held_back:
        details.update(held_back=True, max_per_poll=relay.max_per_poll)
    audit.record(conn, ACTOR, "warning_relayed", f"broadcast:{broadcast_id}", details)
    reason = ("sent to the readers whose language's text changed" if not draft
              and skipped_languages
              else "sent to every subscriber" if not draft
              else f"a draft: more than WARNINGS_MAX_PER_POLL ({relay.max_per_poll}) would "
                   "have gone out from this poll" if held_back
              else "a draft for the press office")
    return Outcome(row.warning_id, row.kind, broadcast_id, status, reason)


def _discard_drafts(conn, thread):
    for broadcast_id in warnings.drafts_of(conn, thread):
        broadcasts.discard_draft(conn, broadcast_id)
        audit.record(conn, ACTOR, "broadcast_discarded", f"broadcast:{broadcast_id}",
                     {"reason": "outdated by a newer revision of the warning"})


# -- the text --------------------------------------------------------------------------------

def compose(relay, kind, detail, language=None, info=None):
    """A warning as citizens read it: headline, description (shortened to fit), what to do,
    where to read more; an update begins with the texts' word for it ("Aktualisierung:").
    ``info``: the warning's block in ``language`` (our words in that language too)."""
    info = info or detail
    headline = info.headline
    if kind == warnings.UPDATE:
        headline = _labelled(relay, "warning_update", headline, language)
    return fit(relay.limit, headline, info.description, info.instruction,
               _more(relay, info.web or detail.more_url, language))


def translations(relay, kind, detail):
    """{language: text} of the warning in each further language it has a block in; readers
    of the others get the main text."""
    found = {}
    for code in relay.languages:
        info = detail.in_language(code)
        if info is not None:
            found[code] = compose(relay, kind, detail, code, info)
    return found


def all_clear_translations(relay, detail, told):
    """{language: text} of an all-clear: in each further language the cancellation has a
    block in, or in which citizens got the warning (``told``: {language: text}), whose
    headline it then names."""
    found = {}
    for code in relay.languages:
        info = detail.in_language(code) if detail is not None else None
        if info is not None:
            found[code] = fit(relay.limit,
                              _labelled(relay, "warning_all_clear", info.headline, code),
                              info.description or relay.texts.get("warning_all_clear_text", code),
                              info.instruction, _more(relay, info.web or detail.more_url, code))
        elif code in told:
            headline = told[code].split(SEPARATOR, 1)[0]
            found[code] = fit(relay.limit,
                              _labelled(relay, "warning_all_clear", headline, code),
                              relay.texts.get("warning_all_clear_text", code), "", "")
    return found


def compose_all_clear(relay, headline, detail=None):
    """"Entwarnung:" and the warning's headline (not the label of its last update); then what
    a cancellation says, or that it is lifted."""
    texts = relay.texts
    description = detail.description if detail is not None else ""
    return fit(relay.limit, _labelled(relay, "warning_all_clear", headline),
               description or texts.get("warning_all_clear_text"),
               detail.instruction if detail is not None else "",
               _more(relay, detail.more_url) if detail is not None else "")


def _more(relay, url, language=None):
    return f"{relay.texts.get('warning_more', language)} {url}"


def _labelled(relay, name, headline, language=None):
    """Our word (the text ``name``) before the headline, in place of the words for an update
    or an end that the source or we put there: one "Aktualisierung:", never "Aktualisierung:
    1. AKTUALISIERUNG:", and an all-clear that names the warning, not its last update."""
    return f"{relay.texts.get(name, language)} {bare_headline(relay, headline, language)}"


def bare_headline(relay, headline, language=None):
    """The headline without the update or end words at its start."""
    ours = [word for word in (relay.texts.get("warning_update", language),
                              relay.texts.get("warning_all_clear", language)) if word.strip()]
    bare = headline.strip()
    for _ in range(5):  # "Entwarnung: 2. Aktualisierung: …", and no further
        label = _SOURCE_LABEL.match(bare)
        length = label.end() if label else next(
            (len(word) for word in ours if bare.casefold().startswith(word.casefold())), 0)
        if not length or not bare[length:].strip():
            break
        bare = bare[length:].strip()
    return bare


def _news(relay, text, language=None):
    """A text without the update word, for telling whether an update says anything new."""
    word = relay.texts.get("warning_update", language)
    return text.removeprefix(word).strip()


def _unchanged_languages(relay, told, told_texts, text, texts):
    """The languages whose readers an update would tell nothing new ('' for the main
    language's): each reader gets their language's own text, else the main one, and an update
    that is new in one language is news to its readers only."""
    def news(code, main, others):
        own = others.get(code)
        return _news(relay, own, code) if own else _news(relay, main)

    unchanged = [code for code in relay.languages
                 if news(code, told, told_texts) == news(code, text, texts)]
    if _news(relay, told) == _news(relay, text):
        unchanged.append("")
    return tuple(unchanged)


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
