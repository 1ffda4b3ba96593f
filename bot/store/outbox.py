"""Demo mode's stand-in for the messaging platform: messages land in the ``outbox`` table and
the log."""

import logging
import secrets

from .db import now_iso
from ..phone import mask

log = logging.getLogger(__name__)


def demo_sid():
    return f"SMdemo{secrets.token_hex(13)}"


def add(conn, to_e164, to_hash, body, kind, media_url=None, broadcast_id=None):
    sid = demo_sid()
    conn.execute(
        "INSERT INTO outbox (to_hash, to_masked, body, media_url, kind, broadcast_id, sid, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (to_hash, mask(to_e164), body, media_url, kind, broadcast_id, sid, now_iso()))
    log.info("[demo outbox] %s to %s: %s", kind, mask(to_e164), body[:80])
    return sid


def recent(conn, limit=50, to_hash=None):
    sql = ("SELECT id, to_masked, body, media_url, kind, broadcast_id, created_at FROM outbox "
           + ("WHERE to_hash = ? " if to_hash else "") + "ORDER BY id DESC LIMIT ?")
    params = (to_hash, limit) if to_hash else (limit,)
    cols = ["id", "to", "body", "media_url", "kind", "broadcast_id", "created_at"]
    return [dict(zip(cols, row)) for row in conn.execute(sql, params)]


