"""The plan's census (``reach.census``): one pass over the subscribers must count exactly what
the separate queries it replaces count, on a real SQLite file with subscribers of every kind
(languages chosen and not, everything or some topics, reached recently, long ago, never)."""

import itertools
import json
import time

from bot.store import audience, reach
from bot.store.db import write
from tests.conftest import database

TOPICS = ("baustellen", "stellen", "veranstaltungen", "wahlen")
AUDIENCES = [(True, ()), (False, ()), (False, ("baustellen",)), (False, ("stellen", "wahlen")),
             (False, ("baustellen", "stellen", "veranstaltungen", "wahlen")),
             (False, ("unbekannt",))]


def seed(app, now):
    """Subscribers of every combination, in uneven numbers, and some who left."""
    store = database(app)
    kinds = itertools.product((None, "de", "en", "tr"), (1, 0),
                              ((), ("baustellen",), ("stellen", "veranstaltungen"), TOPICS),
                              (None, now - 3 * 86400, now - 86400 + 60, now - 60))
    with write(store) as conn:
        number = 0
        for index, (language, everything, chosen, reached_at) in enumerate(kinds):
            for _ in range(1 + index % 3):
                number += 1
                subscriber = conn.execute(
                    "INSERT INTO subscribers (phone_hash, phone_enc, subscribed_at, "
                    "all_topics, language, reached_at) VALUES (?, 'x', '2026-01-01T00:00:00Z',"
                    " ?, ?, ?) RETURNING id",
                    (f"hash{number}", everything, language, reached_at)).fetchone()[0]
                conn.executemany("INSERT INTO subscriber_topics (subscriber_id, topic) "
                                 "VALUES (?, ?)", [(subscriber, topic) for topic in chosen])
        # A language only some audiences have: the others leave it out.
        for number in (1, 2):
            subscriber = conn.execute(
                "INSERT INTO subscribers (phone_hash, phone_enc, subscribed_at, all_topics, "
                "language, reached_at) VALUES (?, 'x', '2026-01-01T00:00:00Z', 0, 'uk', ?) "
                "RETURNING id", (f"uk{number}", now - 60 * number)).fetchone()[0]
            conn.execute("INSERT INTO subscriber_topics (subscriber_id, topic) "
                         "VALUES (?, 'wahlen')", (subscriber,))
        conn.executemany("INSERT INTO departed_reach (at) VALUES (?)",
                         [(now - 3600,), (now - 2 * 86400,)])
    return store


def test_the_census_counts_what_the_separate_queries_count(app):
    now = time.time()
    conn = seed(app, now).conn
    since = now - 86400
    for own in AUDIENCES:
        census = reach.census(conn, "de", since, own, AUDIENCES)
        urgent, topics = own
        separate = reach.by_language(conn, "de", since, urgent, topics)
        assert census.counts(own) == {code: number for code, (number, _) in separate.items()}
        numbers = list(census.counts(own).values())
        assert numbers == sorted(numbers, reverse=True), "the most first, as before"
        assert census.reached == {code: reached for code, (_, reached) in separate.items()
                                  if reached}
        for key in AUDIENCES:
            assert census.counts(key) == audience.by_language(conn, "de", *key)
            assert census.count(key) == audience.count(conn, *key)
        assert census.everyone == conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]
        assert reach.citizens_since(conn, since, census.reached_since) \
            == reach.citizens_since(conn, since)
        everything = conn.execute("SELECT count(*) FROM subscribers WHERE all_topics = 1"
                                  ).fetchone()[0]
        assert census.all_topics == everything
        assert audience.by_topic(conn, TOPICS, census.all_topics) \
            == audience.by_topic(conn, TOPICS)
    assert census.counts((False, ("nie gezählt",))) is None
