"""Answers to citizens that the worker sends (``replies`` in schema.sql), on a platform whose
webhook cannot carry the answer itself.

``queue`` runs inside the write transaction that handled the citizen's message, so that an
answer is on disk before the webhook is acknowledged, and a replayed webhook (deduplicated in
the same transaction) queues nothing twice. The sender claims what is due (``claim``), ahead
of broadcast traffic, and settles each claim: ``sent`` and ``failed`` delete the row (an
answer is not kept once it is out), ``retry`` hands it back for later. A claim left
``sending`` by a worker that died goes back to the queue when the next one starts
(``recover``). ``attempts`` counts only tries whose outcome was unknown (a 5xx, a timeout):
a claim handed back, a "too many requests" or a held one never brings an answer closer to
being given up. Every function runs inside a write transaction the caller holds, but the
reads ``due`` and ``pending``.
"""

from . import counters
from .db import now_iso

SENT = "replies_sent"  # counters (metrics)
FAILED = "replies_failed"


def queue(conn, phone_hash, phone_enc, body):
    """Queue an answer to the citizen whose number is ``phone_enc`` (encrypted)."""
    cursor = conn.execute(
        "INSERT INTO replies (phone_hash, phone_enc, body, created_at) VALUES (?, ?, ?, ?)",
        (phone_hash, phone_enc, body, now_iso()))
    return cursor.lastrowid


def claim(conn, limit, now):
    """Up to ``limit`` due answers, oldest first, marked as being sent:
    [(id, phone_hash, phone_enc, body, attempts)] (attempts: earlier unknown outcomes)."""
    return conn.execute(
        "UPDATE replies SET state = 'sending' WHERE id IN (SELECT id FROM replies "
        "  WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY id LIMIT ?) "
        "RETURNING id, phone_hash, phone_enc, body, attempts", (now, limit)).fetchall()


def due(conn, now):
    """Whether an answer is due (one step of the replies_due index): what the sender asks
    every few hundredths of a second before it takes the write lock to claim."""
    return conn.execute("SELECT 1 FROM replies WHERE state = 'queued' AND next_attempt_at <= ? "
                        "LIMIT 1", (now,)).fetchone() is not None


def sent(conn, ids):
    """The platform took these answers: they are gone, and counted."""
    _delete(conn, ids, SENT)


def failed(conn, ids):
    """These answers can never be sent (the number is not on WhatsApp, retries ran out)."""
    _delete(conn, ids, FAILED)


def retry(conn, later, counted=False):
    """Hand answers back for another try: [(when, as time.time(), id)]; ``counted``: after an
    unknown outcome, which counts toward the limit of attempts."""
    conn.executemany("UPDATE replies SET state = 'queued', next_attempt_at = ?, "
                     f"attempts = attempts + {1 if counted else 0} WHERE id = ?", later)


def recover(conn):
    """Answers a stopped worker had claimed go back to the queue; how many."""
    return conn.execute("UPDATE replies SET state = 'queued' WHERE state = 'sending'").rowcount


def pending(conn):
    """How many answers wait (queued or being sent)."""
    return conn.execute("SELECT count(*) FROM replies").fetchone()[0]


def _delete(conn, ids, counter):
    if not ids:
        return
    conn.executemany("DELETE FROM replies WHERE id = ?", [(i,) for i in ids])
    counters.add(conn, counter, len(ids))
