"""Polls: a broadcast's answers, the citizens' votes, counted, and whether it is closed.

A vote is kept under the citizen's keyed lookup hash, never the number, one per citizen per
poll (a unique index proves it); a later tap changes it. Leaving (a trigger on subscribers,
schema.sql), erasure and retention take the hash away and leave the vote: the count stays,
whose it was does not. A vote keeps only its day, as a reaction does (``reactions``). Everything here runs inside a
write transaction the caller holds, except the reads. Nothing here knows Flask or a platform.
"""

import json

from .db import now_iso, today_iso

# What a tap came to (``vote``): the first vote of this citizen (thank them), a changed one
# (nothing to say), a tap on a closed poll (tell them once, then nothing), or a tap that counts
# for nothing (no such poll, no such answer, a citizen it never went to).
FIRST, CHANGED, CLOSED_NOTICE, CLOSED_AGAIN, NOT_COUNTED = (
    "first", "changed", "closed_notice", "closed_again", "not_counted")

# How long after a poll went to a citizen a typed answer ("Ja") is taken as meant for it:
# the 24 hours in which WhatsApp lets us answer anyway.
TYPED_REPLY_SECONDS = 24 * 3600


class NotAPoll(Exception):
    """The broadcast asks nothing."""


class AlreadyClosed(Exception):
    """The poll was closed before; the message is when."""


def create(conn, broadcast_id, answers):
    conn.execute("INSERT INTO polls (broadcast_id, answers) VALUES (?, ?)",
                 (broadcast_id, json.dumps(list(answers), ensure_ascii=False)))


def answers_of(conn, broadcast_id):
    """The poll's answers, or None when the broadcast asks nothing."""
    row = conn.execute("SELECT answers FROM polls WHERE broadcast_id = ?",
                       (broadcast_id,)).fetchone()
    return json.loads(row[0]) if row else None


def results(conn, broadcast_id):
    """{"answers": [{"text", "votes", "percent"}], "votes", "closed_at"}, or None when the
    broadcast asks nothing. ``percent``: of all votes, whole numbers (0 without votes)."""
    row = conn.execute("SELECT answers, closed_at FROM polls WHERE broadcast_id = ?",
                       (broadcast_id,)).fetchone()
    if row is None:
        return None
    texts = json.loads(row[0])
    counts = dict(conn.execute(
        "SELECT answer, count(*) FROM poll_votes WHERE broadcast_id = ? AND answer IS NOT NULL "
        "GROUP BY answer", (broadcast_id,)).fetchall())
    total = sum(counts.values())
    return {"answers": [{"text": text, "votes": counts.get(index, 0),
                         "percent": round(100 * counts.get(index, 0) / total) if total else 0}
                        for index, text in enumerate(texts)],
            "votes": total, "closed_at": row[1]}


def close(conn, broadcast_id):
    """Close the poll now. Raises NotAPoll, AlreadyClosed."""
    row = conn.execute("SELECT closed_at FROM polls WHERE broadcast_id = ?",
                       (broadcast_id,)).fetchone()
    if row is None:
        raise NotAPoll(broadcast_id)
    if row[0] is not None:
        raise AlreadyClosed(row[0])
    conn.execute("UPDATE polls SET closed_at = ? WHERE broadcast_id = ?",
                 (now_iso(), broadcast_id))


def _received(conn, broadcast_id, subscriber_id):
    """Whether the broadcast went to this subscriber (the platform took it)."""
    return conn.execute(
        "SELECT 1 FROM deliveries WHERE broadcast_id = ? AND subscriber_id = ? "
        "AND state = 'sent' LIMIT 1", (broadcast_id, subscriber_id)).fetchone() is not None


def vote(conn, broadcast_id, answer, voter, subscriber_id):
    """Count a tap on ``answer`` (its index) by ``voter`` (the keyed hash), a subscriber the
    poll went to; returns what it came to (FIRST, CHANGED, …).

    A button's payload arrives from the platform, but nothing stops a forged one: the poll must
    exist, hold that answer, and have gone to this citizen, or the tap counts for nothing.
    """
    row = conn.execute("SELECT answers, closed_at FROM polls WHERE broadcast_id = ?",
                       (broadcast_id,)).fetchone()
    if row is None or not 0 <= answer < len(json.loads(row[0])) or subscriber_id is None \
            or not _received(conn, broadcast_id, subscriber_id):
        return NOT_COUNTED
    if row[1] is not None:
        told = conn.execute(
            "INSERT INTO poll_votes (broadcast_id, voter, closed_told) VALUES (?, ?, 1) "
            "ON CONFLICT (broadcast_id, voter) DO UPDATE SET closed_told = 1 "
            "WHERE closed_told = 0 RETURNING id", (broadcast_id, voter)).fetchone()
        return CLOSED_NOTICE if told else CLOSED_AGAIN
    earlier = conn.execute(
        "SELECT answer FROM poll_votes WHERE broadcast_id = ? AND voter = ?",
        (broadcast_id, voter)).fetchone()
    conn.execute(
        "INSERT INTO poll_votes (broadcast_id, voter, answer, voted_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (broadcast_id, voter) DO UPDATE SET answer = excluded.answer, "
        "voted_at = excluded.voted_at", (broadcast_id, voter, answer, today_iso()))
    return FIRST if earlier is None or earlier[0] is None else CHANGED


def typed_reply(conn, subscriber_id, replied_to, text, now_epoch):
    """Whether a citizen's typed message answers a poll rather than asks anything: it quotes a
    message of a poll (``replied_to``, the platform's id of what it replies to), or it is one of
    the answers of a poll that went to them within ``TYPED_REPLY_SECONDS``."""
    # CROSS JOIN keeps the citizen's own deliveries (an index step) as the outer loop, never
    # a poll's hundred thousand deliveries.
    if replied_to and conn.execute(
            "SELECT 1 FROM deliveries d CROSS JOIN polls p ON p.broadcast_id = d.broadcast_id "
            "WHERE d.sid = ? LIMIT 1", (replied_to,)).fetchone():
        return True
    if subscriber_id is None or not text:
        return False
    folded = " ".join(text.split()).strip(" .!").casefold()
    for (answers,) in conn.execute(
            "SELECT p.answers FROM deliveries d CROSS JOIN polls p "
            "ON p.broadcast_id = d.broadcast_id "
            "WHERE d.subscriber_id = ? AND d.state = 'sent' AND d.sent_at >= ?",
            (subscriber_id, now_epoch - TYPED_REPLY_SECONDS)):
        if folded in (answer.casefold() for answer in json.loads(answers)):
            return True
    return False


def votes_of(conn, voter):
    """A citizen's votes (privacy export): [{"broadcast_id", "answer", "voted_at"}]."""
    return [{"broadcast_id": broadcast_id, "answer": json.loads(answers)[answer]
             if answer is not None else None, "voted_at": voted_at}
            for broadcast_id, answer, voted_at, answers in conn.execute(
                "SELECT v.broadcast_id, v.answer, v.voted_at, p.answers FROM poll_votes v "
                "JOIN polls p ON p.broadcast_id = v.broadcast_id WHERE v.voter = ? "
                "ORDER BY v.broadcast_id", (voter,))]


def forget_voter(conn, voter):
    """Erasure: the citizen's votes stay counted, without their hash; a mere "closed" notice
    row goes. Returns how many votes were made anonymous."""
    conn.execute("DELETE FROM poll_votes WHERE voter = ? AND answer IS NULL", (voter,))
    return conn.execute("UPDATE poll_votes SET voter = NULL WHERE voter = ?",
                        (voter,)).rowcount


def forget_old_voters(conn, cutoff, limit):
    """Retention: who voted in polls whose broadcast finished before ``cutoff`` is forgotten
    with the broadcast's deliveries; the votes stay counted. At most ``limit`` rows; returns
    how many were touched."""
    old = ("SELECT v.id FROM poll_votes v JOIN broadcasts b ON b.id = v.broadcast_id "
           "WHERE b.status IN ('done', 'cancelled') AND b.finished_at < ? "
           "AND v.voter IS NOT NULL")
    removed = conn.execute(f"DELETE FROM poll_votes WHERE id IN ({old} AND v.answer IS NULL "
                           "LIMIT ?)", (cutoff, limit)).rowcount
    return removed + conn.execute(f"UPDATE poll_votes SET voter = NULL WHERE id IN ({old} "
                                  "LIMIT ?)", (cutoff, limit)).rowcount
