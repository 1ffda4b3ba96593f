"""Pictures for broadcasts, as stored after ``images.clean`` re-encoded them: in the database,
so that a backup holds them with the broadcasts that show them, and every web worker serves the
same. Named by a hash of their bytes: the same picture is stored once, and a name never comes
to mean another picture.
"""

import hashlib

from .db import now_iso

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
PATH = "/media/"


def name_for(data, content_type):
    return f"{hashlib.sha256(data).hexdigest()[:32]}.{EXTENSIONS[content_type]}"


def add(conn, image):
    """Store a cleaned image (``images.Cleaned``); returns its name. The caller holds the write
    transaction."""
    name = name_for(image.data, image.content_type)
    conn.execute(
        "INSERT INTO media (name, content_type, data, width, height, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        (name, image.content_type, image.data, image.width, image.height, now_iso()))
    return name


def get(conn, name):
    """(content type, bytes) of a stored picture, or None."""
    row = conn.execute("SELECT content_type, data FROM media WHERE name = ?", (name,)).fetchone()
    return None if row is None else (row[0], bytes(row[1]))


def is_ours(url, base_url):
    """The stored picture's name when ``url`` is one of our /media/ addresses, else None."""
    prefix = base_url.rstrip("/") + PATH
    if not url or not url.startswith(prefix):
        return None
    name = url[len(prefix):]
    return name if name and "/" not in name else None


def forget_unused(conn, before, batch_size=2000):
    """Remove pictures uploaded before ``before`` that no broadcast shows (uploaded, then not
    used, or only for a test send); returns how many. The caller holds the write transaction."""
    return conn.execute(
        "DELETE FROM media WHERE rowid IN (SELECT m.rowid FROM media m WHERE m.created_at < ? "
        "AND NOT EXISTS (SELECT 1 FROM broadcasts b WHERE b.media_url LIKE '%' || ? || m.name) "
        "LIMIT ?)", (before, PATH, batch_size)).rowcount
