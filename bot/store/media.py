"""Pictures, videos and PDFs for broadcasts, as stored after ``images``, ``videos`` or
``documents`` wrote them anew: in the database, so that a backup holds them with the broadcasts
that show them, and every web worker serves the same. Named by a hash of their bytes, and for
a file that is sent with a name (a PDF) of that name too: the same file uploaded again is
stored once, a name never comes to mean another file, and the same PDF uploaded under two names
is served under each upload's own. (Names stored before the file name was hashed stay as they
are: a name is only ever looked up, never worked out again.) A video's poster frame is
served beside it, under its name with ``-poster.jpg`` for ``.mp4``.
"""

import hashlib

from .db import now_iso

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4",
              "application/pdf": "pdf"}
PATH = "/media/"
POSTER_SUFFIX = "-poster.jpg"


def name_for(data, content_type, filename=None):
    digest = hashlib.sha256(data)
    if filename is not None:
        # The bytes are of fixed meaning once hashed; the name follows a separator that no
        # file name holds (``documents.safe_filename`` drops control characters).
        digest.update(b"\0" + filename.encode("utf-8"))
    return f"{digest.hexdigest()[:32]}.{EXTENSIONS[content_type]}"


def add(conn, cleaned):
    """Store a cleaned file (``images.Cleaned``, ``videos.Cleaned``, ``documents.Cleaned``);
    returns its name. The caller holds the write transaction."""
    name = name_for(cleaned.data, cleaned.content_type, getattr(cleaned, "filename", None))
    conn.execute(
        "INSERT INTO media (name, content_type, data, width, height, created_at, filename, "
        "pages, seconds, poster) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO NOTHING",
        (name, cleaned.content_type, cleaned.data, getattr(cleaned, "width", None),
         getattr(cleaned, "height", None), now_iso(), getattr(cleaned, "filename", None),
         getattr(cleaned, "pages", None), getattr(cleaned, "seconds", None),
         getattr(cleaned, "poster", None)))
    return name


def get(conn, name):
    """(content type, bytes) of a stored file, or of a video's poster frame, or None."""
    found = served(conn, name)
    return None if found is None else found[:2]


def served(conn, name):
    """(content type, bytes, file name or None) of a stored file or a video's poster frame, or
    None."""
    if name.endswith(POSTER_SUFFIX):
        row = conn.execute("SELECT poster FROM media WHERE name = ? AND poster IS NOT NULL",
                           (name.removesuffix(POSTER_SUFFIX) + ".mp4",)).fetchone()
        return None if row is None else ("image/jpeg", bytes(row[0]), None)
    row = conn.execute("SELECT content_type, data, filename FROM media WHERE name = ?",
                       (name,)).fetchone()
    return None if row is None else (row[0], bytes(row[1]), row[2])


def describe(conn, name):
    """What the console's preview shows of a stored file, without its bytes: a dict with
    content_type, size, width, height, seconds, pages, filename and poster (its name or None);
    None for no such file."""
    row = conn.execute(
        "SELECT content_type, length(data), width, height, seconds, pages, filename, "
        "poster IS NOT NULL FROM media WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    keys = ("content_type", "size", "width", "height", "seconds", "pages", "filename")
    found = dict(zip(keys, row[:7]))
    found["poster"] = name.rsplit(".", 1)[0] + POSTER_SUFFIX if row[7] else None
    return found


def kind_of_url(conn, url):
    """(content type, file name or None) of the stored file a /media/ address names, for the
    platform to send it as what it is; (None, None) for any other address (a picture, as
    before)."""
    if not url or PATH not in url:
        return None, None
    row = conn.execute("SELECT content_type, filename FROM media WHERE name = ?",
                       (url.rsplit("/", 1)[-1],)).fetchone()
    return (None, None) if row is None else (row[0], row[1])


# The kind of media header a file goes out under, by its content type (a picture otherwise).
KINDS = ("image", "video", "document")
_KIND_OF_TYPE = {"video/mp4": "video", "application/pdf": "document"}


def kind_of_type(content_type):
    """"image", "video" or "document": the WhatsApp media kind of a content type."""
    return _KIND_OF_TYPE.get(content_type, "image")


def kind_of_name(url):
    """The media kind of one of our /media/ addresses by its name, which ends in its stored
    type's extension (``name_for``): no need to read the file. None for any other address."""
    if not url or PATH not in url:
        return None
    extension = url.rsplit("/", 1)[-1].rpartition(".")[2]
    types = {ext: content_type for content_type, ext in EXTENSIONS.items()}
    return kind_of_type(types[extension]) if extension in types else None


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
