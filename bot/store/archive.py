"""The public archive: the broadcasts that went out (shown by ``web.public``, also as a feed).

Only what a subscriber saw is public: text, picture link, time, which correction
("Berichtigung") corrects which broadcast, and how many reacted with which emoji. Never who got
it or who reacted, never delivery counts.
A broadcast the press office kept off the public page (``public`` = 0) is not here at all.
A citizen who writes "Neu" gets the newest of them that were for them (``latest_for``).
"""

import json


def published(conn, limit=20, before_id=None):
    """Broadcasts that have started going out, newest first.

    A broadcast that expired before anyone got it is left out; one that went to nobody because
    there were no subscribers yet is still an announcement and is shown. One cancelled or
    paused after some citizens got it is shown too: what reached citizens is public.
    """
    rows = conn.execute(
        f"SELECT id, text, media_url, urgent, coalesce(started_at, send_at, created_at), "
        f"corrects FROM broadcasts b WHERE id < ? AND {_SHOWN} ORDER BY id DESC LIMIT ?",
        (before_id if before_id is not None else 2**62, limit)).fetchall()
    found = [dict(id=row[0], text=row[1], media_url=row[2], urgent=bool(row[3]),
                  published_at=row[4], corrects=row[5], corrected_by=[]) for row in rows]
    _link_corrections(conn, found)
    _with_reactions(conn, found)
    return found


def _with_reactions(conn, found):
    """Each entry's ``reactions``: [(emoji, how many)], the most frequent first; counts only,
    as citizens see them under a channel's post on WhatsApp."""
    per_broadcast = {}
    for broadcast_id, emoji, number in conn.execute(
            "SELECT broadcast_id, emoji, count(*) AS n FROM reactions WHERE broadcast_id IN "
            "(SELECT value FROM json_each(?)) GROUP BY broadcast_id, emoji "
            "ORDER BY broadcast_id, n DESC, emoji", (json.dumps([e["id"] for e in found]),)):
        per_broadcast.setdefault(broadcast_id, []).append((emoji, number))
    for entry in found:
        entry["reactions"] = per_broadcast.get(entry["id"], [])


# What reached citizens (of the broadcasts ``b``): what the public page and "Neu" show.
_SHOWN = (
    "b.public = 1 AND ("
    "  (b.status IN ('sending', 'done') AND (b.started_at IS NOT NULL OR b.recipients = 0))"
    "  OR (b.status IN ('cancelled', 'paused') AND b.started_at IS NOT NULL AND EXISTS ("
    "      SELECT 1 FROM deliveries d WHERE d.broadcast_id = b.id AND d.state = 'sent')))")


def _link_corrections(conn, found):
    """A correction and the broadcast it corrects name each other, where both are shown:
    ``corrects`` (None unless the original is in the archive too) and ``corrected_by``
    [{"id", "published_at"}], oldest first."""
    ids = json.dumps([entry["id"] for entry in found])
    shown = {row[0]: row[1] for row in conn.execute(
        f"SELECT id, coalesce(started_at, send_at, created_at) FROM broadcasts b WHERE {_SHOWN} "
        "AND (id IN (SELECT value FROM json_each(?)) OR corrects IN (SELECT value FROM "
        "json_each(?)) OR id IN (SELECT corrects FROM broadcasts WHERE id IN (SELECT value "
        "FROM json_each(?))))", (ids, ids, ids))}
    by_original = {}
    for correction, original in conn.execute(
            "SELECT id, corrects FROM broadcasts WHERE corrects IN (SELECT value FROM "
            "json_each(?)) ORDER BY id", (ids,)):
        if correction in shown:
            by_original.setdefault(original, []).append(
                {"id": correction, "published_at": shown[correction]})
    for entry in found:
        if entry["corrects"] is not None:
            original = entry["corrects"]
            entry["corrects"] = ({"id": original, "published_at": shown[original]}
                                 if original in shown else None)
        entry["corrected_by"] = by_original.get(entry["id"], [])


def latest_for(conn, topics=None, limit=3):
    """The newest published broadcasts a subscriber of ``topics`` (slugs; None for every
    topic) would have got: those for everyone, the urgent ones (which go to everyone), and
    those for one of the topics. Newest first, with their translations."""
    condition, params = "", ()
    if topics is not None:
        condition = ("AND (b.topics IS NULL OR b.urgent = 1 OR EXISTS (SELECT 1 FROM "
                     "json_each(b.topics) t WHERE t.value IN (SELECT value FROM json_each(?)))) ")
        params = (json.dumps(sorted(topics)),)
    rows = conn.execute(
        "SELECT id, text, translations, coalesce(started_at, send_at, created_at) "
        f"FROM broadcasts b WHERE {_SHOWN} {condition}ORDER BY id DESC LIMIT ?",
        (*params, limit)).fetchall()
    return [dict(id=row[0], text=row[1], translations=json.loads(row[2]) if row[2] else {},
                 published_at=row[3]) for row in rows]
