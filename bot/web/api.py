"""The protected JSON API under ``/api`` (bearer token ``ADMIN_TOKEN``).

Counts only: no answer of this API ever contains a phone number.
"""

import hmac
from functools import wraps

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import vocabulary
from ..domain import announcements
from ..store import broadcasts, subscribers
from ..store.db import write
from .database import get_db

bp = Blueprint("api", __name__, url_prefix="/api")


def error(message, status):
    return jsonify(error=message), status


def token_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        return _refusal_without_token() or view(*args, **kwargs)

    return wrapper


@bp.before_request
def _options_need_the_token():
    """Flask answers OPTIONS itself, before any view and its ``token_required`` run, and
    would tell anyone which methods each path takes."""
    if request.method == "OPTIONS":
        return _refusal_without_token()
    return None


def _refusal_without_token():
    """The 401 answer for a request without the right bearer token, else None."""
    expected = current_app.config["ADMIN_TOKEN"]
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return _unauthorized()
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return _unauthorized()
    return None


def _unauthorized():
    response, status = error("unauthorized: send 'Authorization: Bearer <ADMIN_TOKEN>'", 401)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response, status


def broadcast_json(broadcast):
    """A stored broadcast as the API shows it: its fields, counts, errors, and what the
    operator can do about its failures."""
    data = {key: value for key, value in broadcast.items() if key != "failures"}
    data["hints"] = vocabulary.hints_for(broadcast["failures"])
    return data


@bp.get("/stats")
@token_required
def stats():
    conn = get_db().conn
    return jsonify(subscribers=subscribers.count_active(conn))


@bp.post("/broadcasts")
@token_required
def create_broadcast():
    data = request.get_json(silent=True)
    if data is None:
        return error("the body must be JSON (Content-Type: application/json)", 400)
    try:
        answer = announcements.submit(get_db(), data, current_app.config, created_by="api")
    except announcements.InvalidBroadcast as exc:
        return error(str(exc), 400)
    return jsonify(answer), 202


@bp.get("/broadcasts")
@token_required
def list_broadcasts():
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), 500)
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        return error("limit and offset must be whole numbers", 400)
    if offset > broadcasts.SQLITE_INT_MAX:
        return error(f"offset must be at most {broadcasts.SQLITE_INT_MAX}", 400)
    return jsonify(broadcasts=[broadcast_json(b) for b in
                               broadcasts.list_recent(get_db().conn, limit, offset)])


@bp.get("/broadcasts/<int:broadcast_id>")
@token_required
def show_broadcast(broadcast_id):
    try:
        return jsonify(broadcast_json(broadcasts.get(get_db().conn, broadcast_id)))
    except broadcasts.BroadcastNotFound:
        return error(f"no broadcast {broadcast_id}", 404)


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@token_required
def cancel_broadcast(broadcast_id):
    return _change(broadcast_id, broadcasts.cancel)


@bp.post("/broadcasts/<int:broadcast_id>/resume")
@token_required
def resume_broadcast(broadcast_id):
    return _change(broadcast_id, broadcasts.resume)


def _change(broadcast_id, action):
    try:
        with write(get_db()) as conn:
            action(conn, broadcast_id)
    except broadcasts.BroadcastNotFound:
        return error(f"no broadcast {broadcast_id}", 404)
    except broadcasts.BroadcastClosed as exc:
        return error(f"broadcast {broadcast_id} is {exc}; nothing to change", 409)
    return jsonify(broadcast_json(broadcasts.get(get_db().conn, broadcast_id)))


@bp.app_errorhandler(HTTPException)
def http_error(exc):
    """Errors under /api are JSON; elsewhere Flask's own pages stay."""
    if request.path.startswith("/api/") or request.path.startswith("/twilio/"):
        return error(exc.description or exc.name, exc.code)
    return exc
