"""Citizens' emoji reactions to broadcasts, counted per emoji, anonymous.

A reaction counts for a broadcast when it names a message of that broadcast that went to the
very citizen who reacted (the platform's message id of their delivery): one per citizen and
broadcast, replaced by a new emoji, gone when taken back. It is kept under the citizen's keyed
lookup hash only while that links to anything: the hash goes when the citizen leaves or is
erased (a trigger on subscribers, schema.sql) and when the broadcast's deliveries are forgotten
(``forget``, from the retention cleanup), and the emoji stays, so the counts never move. It
keeps only its day: a finer time would find the reaction's own message id in the webhook
deduplication log, which the platform resolves to the number.
Nothing here knows a platform or Flask.
"""

from .db import today_iso

# What a reaction came to (for the caller's log and the tests).
COUNTED, CHANGED, REMOVED, UNCHANGED, NO_BROADCAST = (
    "counted", "changed", "removed", "unchanged", "no_broadcast")
# Longer than any emoji WhatsApp lets anyone react with: not stored.
EMOJI_LIMIT = 32


def broadcast_of(conn, message_id, phone_hash):
    """The broadcast whose message ``message_id`` went to the citizen of ``phone_hash``; None
    when it is no delivery of ours to them (an answer, a message forgotten, someone else's)."""
    if not message_id:
        return None
    row = conn.execute(
        "SELECT d.broadcast_id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id "
        "WHERE d.sid = ? AND s.phone_hash = ?", (message_id, phone_hash)).fetchone()
    return row[0] if row else None


def react(conn, phone_hash, message_id, emoji):
    """Record one reaction (``emoji`` empty: taken back) to the message ``message_id``; returns
    what it came to. The caller holds the write transaction."""
    broadcast_id = broadcast_of(conn, message_id, phone_hash)
    emoji = (emoji or "").strip()
    if broadcast_id is None or len(emoji) > EMOJI_LIMIT or not emoji.isprintable():
        return NO_BROADCAST
    if not emoji:
        gone = conn.execute("DELETE FROM reactions WHERE broadcast_id = ? AND phone_hash = ?",
                            (broadcast_id, phone_hash)).rowcount
        return REMOVED if gone else UNCHANGED
    before = conn.execute("SELECT emoji FROM reactions WHERE broadcast_id = ? AND phone_hash = ?",
                          (broadcast_id, phone_hash)).fetchone()
    if before is not None and before[0] == emoji:
        return UNCHANGED
    conn.execute(
        "INSERT INTO reactions (broadcast_id, phone_hash, emoji, reacted_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (broadcast_id, phone_hash) DO UPDATE SET emoji = excluded.emoji, "
        "reacted_at = excluded.reacted_at", (broadcast_id, phone_hash, emoji, today_iso()))
    return CHANGED if before is not None else COUNTED


def counts(conn, broadcast_id):
    """{emoji: how many}, the most frequent first (ties in a fixed order)."""
    return dict(conn.execute(
        "SELECT emoji, count(*) AS n FROM reactions WHERE broadcast_id = ? GROUP BY emoji "
        "ORDER BY n DESC, emoji", (broadcast_id,)).fetchall())


def of_citizen(conn, phone_hash):
    """A citizen's reactions still linked to them, for the privacy export."""
    return [{"broadcast_id": broadcast_id, "emoji": emoji, "reacted_at": at}
            for broadcast_id, emoji, at in conn.execute(
                "SELECT broadcast_id, emoji, reacted_at FROM reactions WHERE phone_hash = ? "
                "ORDER BY broadcast_id", (phone_hash,))]


def unlink_citizen(conn, phone_hash):
    """The citizen's hash goes from their reactions; the counts stay. Returns how many."""
    return conn.execute("UPDATE reactions SET phone_hash = NULL WHERE phone_hash = ?",
                        (phone_hash,)).rowcount


def forget_finished(conn, cutoff, limit):
    """Up to ``limit`` reactions to broadcasts finished before ``cutoff`` (whose deliveries
    the retention cleanup forgets) lose the hash; the counts stay. Returns how many."""
    return conn.execute(
        "UPDATE reactions SET phone_hash = NULL WHERE id IN (SELECT r.id FROM reactions r "
        "JOIN broadcasts b ON b.id = r.broadcast_id WHERE r.phone_hash IS NOT NULL "
        "AND b.status IN ('done', 'cancelled') AND b.finished_at < ? LIMIT ?)",
        (cutoff, limit)).rowcount
