"""Subscriptions, what each subscriber chose (topics, language), and the consent records that
prove them.

The functions that write run inside a write transaction the caller holds (``db.write``), so
one inbound message is recorded completely or not at all.
"""

from dataclasses import dataclass, field

from .db import now_iso

NEW, ALREADY = "new", "already"
REMOVED, NOT_SUBSCRIBED = "removed", "not_subscribed"


@dataclass
class Subscriber:
    id: int
    all_topics: bool
    topics: set = field(default_factory=set)
    language: str = None


def find(conn, phone_hash):
    row = conn.execute("SELECT id, all_topics, language FROM subscribers WHERE phone_hash = ?",
                       (phone_hash,)).fetchone()
    if row is None:
        return None
    topics = {topic for (topic,) in conn.execute(
        "SELECT topic FROM subscriber_topics WHERE subscriber_id = ?", (row[0],))}
    return Subscriber(row[0], bool(row[1]), topics, row[2])


def subscribe(conn, phone_hash, phone_enc, keyword, message_id, language=None, topic=None):
    """Subscribe to everything (``topic`` None) or to one topic; NEW or ALREADY.

    ``phone_enc``: the number, encrypted beforehand to keep the write lock short. A new
    subscriber's ``language`` is the one of the keyword they used (None: the main one).
    """
    at = now_iso()
    cursor = conn.execute(
        "INSERT INTO subscribers (phone_hash, phone_enc, subscribed_at, all_topics, language) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (phone_hash) DO NOTHING RETURNING id",
        (phone_hash, phone_enc, at, int(topic is None), language))
    row = cursor.fetchone()
    if row is None:
        return ALREADY
    if topic is not None:
        conn.execute("INSERT INTO subscriber_topics (subscriber_id, topic) VALUES (?, ?)",
                     (row[0], topic))
    _consent(conn, phone_hash, "subscribe", keyword, message_id, at, topic)
    return NEW


def widen(conn, subscriber, phone_hash, keyword, message_id, topic=None):
    """An existing subscriber adds a topic, or (``topic`` None) takes everything."""
    if topic is None:
        conn.execute("UPDATE subscribers SET all_topics = 1 WHERE id = ?", (subscriber.id,))
        conn.execute("DELETE FROM subscriber_topics WHERE subscriber_id = ?", (subscriber.id,))
    else:
        conn.execute("INSERT INTO subscriber_topics (subscriber_id, topic) VALUES (?, ?) "
                     "ON CONFLICT DO NOTHING", (subscriber.id, topic))
    _consent(conn, phone_hash, "subscribe", keyword, message_id, now_iso(), topic)


def leave_topic(conn, subscriber, phone_hash, topic, every_topic, keyword, message_id):
    """Stop one topic. A subscriber of everything keeps all the others; leaving the last one
    leaves the channel. Returns REMOVED when it did, else the topics left."""
    left = (set(every_topic) if subscriber.all_topics else set(subscriber.topics)) - {topic}
    if not left:
        unsubscribe(conn, phone_hash, keyword, message_id)
        return REMOVED
    if subscriber.all_topics:
        conn.execute("UPDATE subscribers SET all_topics = 0 WHERE id = ?", (subscriber.id,))
        conn.executemany("INSERT INTO subscriber_topics (subscriber_id, topic) VALUES (?, ?) "
                         "ON CONFLICT DO NOTHING", [(subscriber.id, t) for t in sorted(left)])
    else:
        conn.execute("DELETE FROM subscriber_topics WHERE subscriber_id = ? AND topic = ?",
                     (subscriber.id, topic))
    _consent(conn, phone_hash, "unsubscribe", keyword, message_id, now_iso(), topic)
    return left


def set_language(conn, subscriber_id, language):
    """``language`` None: the main one."""
    conn.execute("UPDATE subscribers SET language = ? WHERE id = ?", (language, subscriber_id))


def unsubscribe(conn, phone_hash, keyword, message_id):
    row = conn.execute("DELETE FROM subscribers WHERE phone_hash = ? RETURNING id",
                       (phone_hash,)).fetchone()
    if row is None:
        return NOT_SUBSCRIBED
    _unlink_deliveries(conn, row[0])
    _consent(conn, phone_hash, "unsubscribe", keyword, message_id, now_iso())
    return REMOVED


def unsubscribe_by_id(conn, subscriber_id, reason):
    """Unsubscribe after the platform said the citizen opted out (``reason``: what for)."""
    row = conn.execute("DELETE FROM subscribers WHERE id = ? RETURNING phone_hash",
                       (subscriber_id,)).fetchone()
    if row:
        _unlink_deliveries(conn, subscriber_id)
        _consent(conn, row[0], "unsubscribe", reason, None, now_iso())


def _unlink_deliveries(conn, subscriber_id):
    """Whoever leaves is no longer linked to what they were sent; the counts stay.

    It also keeps a later subscriber who gets the same row id (SQLite reuses the highest one)
    from inheriting someone else's deliveries; queued ones are skipped by the sender.
    """
    return conn.execute("UPDATE deliveries SET subscriber_id = NULL WHERE subscriber_id = ?",
                        (subscriber_id,)).rowcount


def is_subscribed(conn, phone_hash):
    return conn.execute("SELECT 1 FROM subscribers WHERE phone_hash = ?",
                        (phone_hash,)).fetchone() is not None


def count_active(conn):
    return conn.execute("SELECT count(*) FROM subscribers").fetchone()[0]


def _consent(conn, phone_hash, action, keyword, message_id, at, topic=None):
    conn.execute(
        "INSERT INTO consent_events (phone_hash, action, keyword, message_sid, at, topic) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (phone_hash, action, keyword, message_id, at, topic))
