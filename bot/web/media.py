"""Pictures for broadcasts: uploaded (compose's picture field, ``POST /api/media``), cleaned of
their metadata (``images``), stored (``store.media``) and served publicly under
``/media/<name>``, where the platform fetches them for every message that shows one.

Public because the platform fetches without credentials; the names are hashes, so nobody finds
a picture that no broadcast has shown them. Served as immutable: a name never changes meaning.
"""

import re

from flask import Blueprint, Response, abort, current_app, request

from .. import images
from ..store import media
from ..store.db import write
from .database import get_db

bp = Blueprint("media", __name__)

_NAME = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png)$")
# The views whose requests may carry a picture: their body limit is the picture's.
UPLOAD_ENDPOINTS = {"api.upload_media", "console.compose_post"}


def base_url():
    return current_app.config["PUBLIC_URL"] or request.url_root.rstrip("/")


def store_upload(upload):
    """An uploaded file (Werkzeug's FileStorage) as a stored picture; returns its public URL.
    Raises images.InvalidImage with the reason."""
    data = upload.stream.read(images.MAX_BYTES + 1)
    cleaned = images.clean(data)
    with write(get_db()) as conn:
        name = media.add(conn, cleaned)
    return base_url() + media.PATH + name


@bp.get("/media/<name>")
def serve(name):
    if not _NAME.match(name):
        abort(404)
    found = media.get(get_db().conn, name)
    if found is None:
        abort(404)
    content_type, data = found
    response = Response(data, mimetype=content_type)
    response.cache_control.public = True
    response.cache_control.max_age = 365 * 24 * 3600
    response.cache_control.immutable = True
    return response


def allow_uploads():
    """Before the form is read (the CSRF check reads it): a request to an upload view may be as
    large as a picture; every other keeps the app's small limit."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = images.UPLOAD_BODY_LIMIT


def init_app(app):
    app.before_request_funcs.setdefault(None, []).insert(0, allow_uploads)
    app.register_blueprint(bp)
