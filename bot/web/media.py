"""Pictures, videos and PDFs for broadcasts: uploaded (compose's file field, ``POST
/api/media``), checked and written anew without their metadata (``images``, ``videos``,
``documents``), stored (``store.media``) and served publicly under ``/media/<name>``, where
the platform fetches them for every message that shows one.

Public because the platform fetches without credentials; the names are hashes, so nobody finds
a file that no broadcast has shown them. Served as immutable: a name never changes meaning. A
PDF is served with the name it was uploaded as (a browser that saves it keeps that name), a
video and a picture to be shown where they are.
"""

import re
import unicodedata
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, request

from .. import documents, images, uploads, videos
from ..store import media
from ..store.db import write
from .database import get_db

bp = Blueprint("media", __name__)

_NAME = re.compile(r"^[0-9a-f]{32}(?:\.(?:jpg|png|mp4|pdf)|-poster\.jpg)$")
# The views whose requests may carry a file: their body limit is the largest file's.
UPLOAD_ENDPOINTS = {"api.upload_media", "console.compose_post"}


# What images says of a file that is no picture, and what is said of it here, where a video or
# PDF would have been taken too.
_NOT_A_PICTURE = "the file is not a JPEG or PNG picture"
NOT_ACCEPTED = ("the file is not a JPEG or PNG picture, an MP4 video or a PDF (only these are "
                "accepted)")


class InvalidUpload(Exception):
    """Not a file we send; ``reason`` is the plain English reason, ``kind`` which kind of file
    it claimed to be (``uploads``), for the console to explain it in German."""

    def __init__(self, reason, kind):
        super().__init__(reason)
        self.kind = kind


def base_url():
    return current_app.config["PUBLIC_URL"] or request.url_root.rstrip("/")


def store_upload(upload):
    """An uploaded file (Werkzeug's FileStorage) as a stored picture, video or PDF; returns its
    public URL. Raises InvalidUpload with the reason."""
    data = upload.stream.read(uploads.MAX_BYTES + 1)
    kind = uploads.kind_of(data)
    try:
        if kind == uploads.VIDEO:
            cleaned = videos.clean(data)
        elif kind == uploads.PDF:
            cleaned = documents.clean(data, upload.filename)
        else:
            cleaned = images.clean(data)
    except (images.InvalidImage, uploads.InvalidFile) as exc:
        reason = str(exc)
        if reason.startswith(_NOT_A_PICTURE):
            reason = NOT_ACCEPTED
        raise InvalidUpload(reason, kind) from None
    with write(get_db()) as conn:
        name = media.add(conn, cleaned)
    return base_url() + media.PATH + name


@bp.get("/media/<name>")
def serve(name):
    if not _NAME.match(name):
        abort(404)
    found = media.served(get_db().conn, name)
    if found is None:
        abort(404)
    content_type, data, filename = found
    response = Response(data, mimetype=content_type)
    if filename:
        response.headers["Content-Disposition"] = disposition(filename)
    elif content_type == videos.CONTENT_TYPE:
        response.headers.set("Content-Disposition", "inline")
    response.cache_control.public = True
    response.cache_control.max_age = 365 * 24 * 3600
    response.cache_control.immutable = True
    # A browser's video player asks for parts (and Safari's plays nothing otherwise).
    return response.make_conditional(request, accept_ranges=True, complete_length=len(data))


def disposition(filename):
    """RFC 6266: the name in ASCII for every client, and as it is (RFC 8187) for those that
    read it; a header field carries no other characters."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    plain = plain.replace("\\", "").replace('"', "") or "Dokument.pdf"
    if plain == filename:
        return f'inline; filename="{plain}"'
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def allow_uploads():
    """Before the form is read (the CSRF check reads it): a request to an upload view may be as
    large as a video or PDF; every other keeps the app's small limit."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = uploads.UPLOAD_BODY_LIMIT


def init_app(app):
    app.before_request_funcs.setdefault(None, []).insert(0, allow_uploads)
    app.register_blueprint(bp)
