"""The public archive: the broadcasts that went out (shown by ``web.public``, also as a feed).

Only what a subscriber saw is public: text, picture link, time. Never who got it, never counts.
A broadcast the press office kept off the public page (``public`` = 0) is not here at all.
"""


def published(conn, limit=20, before_id=None):
    """Broadcasts that have started going out, newest first.

    A broadcast that expired before anyone got it is left out; one that went to nobody because
    there were no subscribers yet is still an announcement and is shown. One cancelled or
    paused after some citizens got it is shown too: what reached citizens is public.
    """
    rows = conn.execute(
        "SELECT id, text, media_url, urgent, coalesce(started_at, send_at, created_at) "
        "FROM broadcasts b WHERE id < ? AND public = 1 AND ("
        "  (status IN ('sending', 'done') AND (started_at IS NOT NULL OR recipients = 0))"
        "  OR (status IN ('cancelled', 'paused') AND started_at IS NOT NULL AND EXISTS ("
        "      SELECT 1 FROM deliveries d WHERE d.broadcast_id = b.id AND d.state = 'sent'))) "
        "ORDER BY id DESC LIMIT ?",
        (before_id if before_id is not None else 2**62, limit)).fetchall()
    return [dict(id=row[0], text=row[1], media_url=row[2], urgent=bool(row[3]),
                 published_at=row[4]) for row in rows]
