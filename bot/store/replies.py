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

A citizen reads their answers in the order they were queued: only the oldest answer still
waiting for a citizen is ever due, so the next one is claimed once that one is out or has
failed, and one handed back for a retry keeps its place ahead of the later ones (answers to
other citizens go on meanwhile). An answer tried again after its outcome was unknown (and one
a stopped worker had in flight) may have reached the citizen already: counted as a possible
duplicate (``RETRIED_UNKNOWN``).
"""

from . import counters, usage
from .db import now_iso

SENT = "replies_sent"  # counters (metrics)
FAILED = "replies_failed"
RETRIED_UNKNOWN = "replies_retried_unknown"  # sent again after an unknown outcome

# The oldest answer waiting for its citizen: no earlier one of theirs is left (sent and failed
# answers are deleted; one held for a retry or in flight is still there). Two forms of the same
# test: asked of one row at a time, which costs next to nothing when the first due answer
# passes (``due``, the common case); and for the whole queue at once, one grouping pass, which
# stays a few milliseconds with thousands waiting where the first form would take a second
# (``claim``, under the write lock).
_FIRST_FOR_CITIZEN = ("NOT EXISTS (SELECT 1 FROM replies earlier "
                      "WHERE earlier.phone_hash = replies.phone_hash AND earlier.id < replies.id)")
_FIRSTS = "id IN (SELECT min(id) FROM replies GROUP BY phone_hash)"


def queue(conn, phone_hash, phone_enc, body):
    """Queue an answer to the citizen whose number is ``phone_enc`` (encrypted)."""
    cursor = conn.execute(
        "INSERT INTO replies (phone_hash, phone_enc, body, created_at) VALUES (?, ?, ?, ?)",
        (phone_hash, phone_enc, body, now_iso()))
    return cursor.lastrowid


def claim(conn, limit, now):
    """Up to ``limit`` due answers, oldest first, at most one for each citizen (their oldest
    waiting one), marked as being sent: [(id, phone_hash, phone_enc, body, attempts)]
    (attempts: earlier unknown outcomes)."""
    return conn.execute(
        "UPDATE replies SET state = 'sending' WHERE id IN (SELECT id FROM replies "
        f"  WHERE state = 'queued' AND next_attempt_at <= ? AND {_FIRSTS} "
        "  ORDER BY id LIMIT ?) "
        "RETURNING id, phone_hash, phone_enc, body, attempts", (now, limit)).fetchall()


def due(conn, now):
    """Whether an answer is due (a step of the replies_due index, then a look at the few
    waiting answers): what the sender asks every few hundredths of a second before it takes
    the write lock to claim. One waiting behind an earlier answer to its citizen is not."""
    return conn.execute("SELECT 1 FROM replies WHERE state = 'queued' AND next_attempt_at <= ? "
                        f"AND {_FIRST_FOR_CITIZEN} LIMIT 1", (now,)).fetchone() is not None


def sent(conn, ids):
    """The platform took these answers: they are gone, and counted (also for the month's
    cost)."""
    _delete(conn, ids, SENT)
    usage.reply_sent(conn, len(ids))


def failed(conn, ids):
    """These answers can never be sent (the number is not on WhatsApp, retries ran out)."""
    _delete(conn, ids, FAILED)


def retry(conn, later, counted=False):
    """Hand answers back for another try: [(when, as time.time(), id)]; ``counted``: after an
    unknown outcome, which counts toward the limit of attempts, and as a possible duplicate."""
    conn.executemany("UPDATE replies SET state = 'queued', next_attempt_at = ?, "
                     f"attempts = attempts + {1 if counted else 0} WHERE id = ?", later)
    if counted and later:
        counters.add(conn, RETRIED_UNKNOWN, len(later))


def recover(conn):
    """Answers a stopped worker had claimed go back to the queue; how many. The platform may
    have taken them before the stop: each counts as a possible duplicate."""
    recovered = conn.execute(
        "UPDATE replies SET state = 'queued' WHERE state = 'sending'").rowcount
    if recovered:
        counters.add(conn, RETRIED_UNKNOWN, recovered)
    return recovered


def pending(conn):
    """How many answers wait (queued or being sent)."""
    return conn.execute("SELECT count(*) FROM replies").fetchone()[0]


def _delete(conn, ids, counter):
    if not ids:
        return
    conn.executemany("DELETE FROM replies WHERE id = ?", [(i,) for i in ids])
    counters.add(conn, counter, len(ids))
