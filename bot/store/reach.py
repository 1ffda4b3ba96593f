"""Whom our broadcasts reached in the last 24 hours, and what waits in the sender's queue: what
a broadcast's plan (``domain.plan``) needs to know before it goes. Reads only; counts only.

WhatsApp counts the different people a business reaches with templates in a rolling 24 hours.
The database keeps when each subscriber last got a message the platform took
(``subscribers.reached_at``, Unix time) and, for those who left since, the time alone
(``departed_reach``): schema.sql's 0023_recent_reach says how. So whom we reached is one pass
over the subscribers, however many messages went out that day.
"""

import json
import time
from dataclasses import dataclass

from . import audience

DAY = 24 * 3600  # WhatsApp's messaging limit counts a rolling 24 hours


def by_language(conn, main, since, urgent, topics):
    """{language code: (recipients, of them reached since ``since``)} of a broadcast
    (``audience.reached_by``), in one pass."""
    condition, params = audience.reached_by(urgent, topics)
    return {language: (number, reached) for language, number, reached in conn.execute(
        "SELECT coalesce(language, ?), count(*), count(*) FILTER (WHERE reached_at >= ?) "
        f"FROM subscribers WHERE {condition} GROUP BY 1 ORDER BY 2 DESC",
        (main, since, *params))}


@dataclass(frozen=True)
class Census:
    """The subscribers counted once for a plan (``census``): per audience (``audience_of``'s
    key) {language code: recipients}, languages with none left out, the most first; for the
    broadcast's own audience also {language: of them reached since ``since``}; how many
    subscribers there are, how many of them we reached since ``since``, and how many get
    everything."""

    audiences: dict
    reached: dict
    since: float
    everyone: int
    reached_since: int
    all_topics: int

    def counts(self, key):
        """{language: recipients} of an audience, or None when it was not counted."""
        return self.audiences.get(key)

    def count(self, key):
        """How many an audience reaches, or None when it was not counted."""
        languages = self.audiences.get(key)
        return None if languages is None else sum(languages.values())


def census(conn, main, since, own, others=()):
    """A ``Census`` of the subscribers for a broadcast reaching ``own`` (an ``audience_of``
    key) and the ``others`` audiences, in ONE pass over the subscribers: at 100,000 of them
    each further pass costs tens of milliseconds, and a plan needs the same few audiences
    for its reach, its time and the month's commitments. ``main``: the language of those
    who chose none; ``since``: Unix time.

    Grouped by language and by whether we reached them since ``since``, so that who of an
    audience we reached needs no column of its own; everyone (urgent) and the subscribers
    of everything need none either: each column is a test on every subscriber."""
    keys = list(dict.fromkeys([own, *others]))
    chosen = [key for key in keys if not key[0] and key[1]]
    columns, params = [], []
    for key in chosen:
        condition, more = audience.reached_by(*key)
        columns.append(f", count(*) FILTER (WHERE {condition})")
        params += more
    rows = conn.execute(
        "SELECT coalesce(language, ?), coalesce(reached_at >= ?, 0), count(*), "
        f"count(*) FILTER (WHERE all_topics = 1){''.join(columns)} "
        "FROM subscribers GROUP BY 1, 2 ORDER BY 1, 2", (main, since, *params)).fetchall()

    def column(key):
        return 2 if key[0] else 3 if not key[1] else 4 + chosen.index(key)

    audiences, reached = {}, {}
    for key in keys:
        index = column(key)
        counts = {}
        for row in rows:
            counts[row[0]] = counts.get(row[0], 0) + row[index]
            if key == own and row[1] and row[index]:
                reached[row[0]] = row[index]
        # The most first, as ``by_language`` answers (a stable sort: ties by code); the
        # languages an audience has none of are left out, as there.
        audiences[key] = dict(sorted(((code, number) for code, number in counts.items()
                                      if number), key=lambda pair: -pair[1]))
    return Census(audiences, reached, since, sum(row[2] for row in rows),
                  sum(row[2] for row in rows if row[1]), sum(row[3] for row in rows))


def reached_first(now=None):
    """[(SQL condition on subscribers, parameters)]: those who got a message from us in the 24
    hours up to ``now`` (Unix time; default: now), then the others. The sender works a
    broadcast's deliveries in order, and pauses it when WhatsApp's messaging limit comes back:
    those WhatsApp still lets us reach today (they do not count again) must have theirs by
    then, not an hour later behind new ones. Two conditions rather than one order: each part
    is read in the table's order, with nothing to sort."""
    since = (now or time.time()) - DAY
    return [("subscribers.reached_at >= ?", (since,)),
            ("coalesce(subscribers.reached_at < ?, 1)", (since,))]


def citizens_since(conn, since, subscribers=None):
    """How many different citizens got a message from us since ``since`` (Unix time),
    those who left since included. ``subscribers``: how many of those still subscribed, when
    a ``Census`` counted them already."""
    if subscribers is not None:
        return subscribers + conn.execute(
            "SELECT count(*) FROM departed_reach WHERE at >= ?", (since,)).fetchone()[0]
    return conn.execute(
        "SELECT (SELECT count(*) FROM subscribers WHERE reached_at >= ?) "
        "+ (SELECT count(*) FROM departed_reach WHERE at >= ?)", (since, since)).fetchone()[0]


def nth_leaving(conn, since, urgent, topics, nth):
    """When the ``nth`` citizen who got a message since ``since`` and is not a recipient of
    this broadcast got their last one (Unix time), oldest first; None when fewer are there.
    24 hours later that many have left the platform's window."""
    condition, params = audience.reached_by(urgent, topics)
    row = conn.execute(
        "SELECT at FROM (SELECT reached_at AS at FROM subscribers "
        f"  WHERE reached_at >= ? AND NOT {condition} "
        "  UNION ALL SELECT at FROM departed_reach WHERE at >= ?) "
        "ORDER BY at LIMIT 1 OFFSET ?", (since, *params, since, nth - 1)).fetchone()
    return None if row is None else row[0]


def waiting(conn, urgent_only=False):
    """[(id, urgent, picture, messages)]: what the sender still has to send of each broadcast
    it works on (urgent ones alone when ``urgent_only``: a new urgent broadcast goes before
    the others), with what orders it in the queue and whether it carries a picture (paced at
    another rate)."""
    return conn.execute(
        "SELECT b.id, b.urgent, b.media_url IS NOT NULL, sum(c.n) FROM broadcasts b "
        "JOIN delivery_counts c ON c.broadcast_id = b.id AND c.bucket = 'queued' "
        "WHERE b.status IN ('queued', 'sending') AND (b.urgent = 1 OR NOT ?) "
        "GROUP BY b.id HAVING sum(c.n) > 0",
        (bool(urgent_only),)).fetchall()


def scheduled(conn, urgent_only=False):
    """[(id, urgent, picture, recipients, send_at)] of the broadcasts scheduled to go,
    soonest first: each joins the sender's queue at its time. ``recipients``: as stored when
    it was scheduled or last edited (counting each audience again would cost a test on every
    subscriber per scheduled broadcast)."""
    return conn.execute(
        "SELECT id, urgent, media_url IS NOT NULL, coalesce(recipients, 0), send_at "
        "FROM broadcasts "
        "WHERE status = 'scheduled' AND (urgent = 1 OR NOT ?) ORDER BY send_at, id",
        (bool(urgent_only),)).fetchall()


def audience_of(urgent, topics):
    """Who a broadcast reaches (``topics`` as stored, JSON), the same for broadcasts that
    reach the same people: a key for ``census``."""
    return (True, ()) if urgent else (False, tuple(sorted(json.loads(topics or "[]"))))
