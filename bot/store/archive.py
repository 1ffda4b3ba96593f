"""The public archive: the broadcasts that went out (shown by ``web.public``, also as a feed).

Only what a subscriber saw is public: text, picture link, time. Never who got it, never counts.
A broadcast the press office kept off the public page (``public`` = 0) is not here at all.
A citizen who writes "Neu" gets the newest of them that were for them (``latest_for``).
"""


import json

# What reached citizens (see ``published``): what the public page and "Neu" show.
_PUBLISHED = (
    "public = 1 AND ("
    "  (status IN ('sending', 'done') AND (started_at IS NOT NULL OR recipients = 0))"
    "  OR (status IN ('cancelled', 'paused') AND started_at IS NOT NULL AND EXISTS ("
    "      SELECT 1 FROM deliveries d WHERE d.broadcast_id = b.id AND d.state = 'sent')))")


def published(conn, limit=20, before_id=None):
    """Broadcasts that have started going out, newest first.

    A broadcast that expired before anyone got it is left out; one that went to nobody because
    there were no subscribers yet is still an announcement and is shown. One cancelled or
    paused after some citizens got it is shown too: what reached citizens is public.
    """
    rows = conn.execute(
        "SELECT id, text, media_url, urgent, coalesce(started_at, send_at, created_at) "
        f"FROM broadcasts b WHERE id < ? AND {_PUBLISHED} ORDER BY id DESC LIMIT ?",
        (before_id if before_id is not None else 2**62, limit)).fetchall()
    return [dict(id=row[0], text=row[1], media_url=row[2], urgent=bool(row[3]),
                 published_at=row[4]) for row in rows]


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
        f"FROM broadcasts b WHERE {_PUBLISHED} {condition}ORDER BY id DESC LIMIT ?",
        (*params, limit)).fetchall()
    return [dict(id=row[0], text=row[1], translations=json.loads(row[2]) if row[2] else {},
                 published_at=row[3]) for row in rows]
