"""The protected JSON API under ``/api`` (bearer token ``ADMIN_TOKEN``).

Counts only: no answer of this API ever contains a phone number. It is long because it is
every route of the API, each a few lines over the domain, and the errors they answer.
"""

import hmac
from functools import partial, wraps

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import vocabulary
from ..domain import announcements, corrections, costs, month_report, polls
from ..store import audience, audit, broadcasts, reactions, subscribers
from ..store import corrections as correction_store, polls as stored_polls
from . import openapi, security
from .database import get_db
from .media import InvalidUpload, store_upload

bp = Blueprint("api", __name__, url_prefix="/api")


def error(message, status, **fields):
    return jsonify(error=message, **fields), status


def json_body(view):
    """The view gets the request's JSON body first; a body that is no JSON is a 400."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        data = request.get_json(silent=True)
        return view(data, *args, **kwargs) if data is not None else error(
            "the body must be JSON (Content-Type: application/json)", 400)
    return wrapper


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


UNAUTHORIZED = "unauthorized: send 'Authorization: Bearer <ADMIN_TOKEN>'"


def _refusal_without_token():
    """The 401 answer for a request without the right bearer token, else None."""
    if not token_valid(request.headers.get("Authorization", ""),
                       current_app.config["ADMIN_TOKEN"]):
        return _unauthorized()
    return None


def token_valid(header, expected):
    """Whether an Authorization field's value carries the API token (the web front asks
    too, before it reads a request's body)."""
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def _unauthorized():
    response, status = error(UNAUTHORIZED, 401)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response, status


def broadcast_json(broadcast):
    """A stored broadcast as the API shows it: its fields, counts, errors, what the operator
    can do about its failures, what its messages cost (estimated), citizens' emoji reactions
    ({emoji: count}) and the corrections sent of it (ids)."""
    data = {key: value for key, value in broadcast.items()
            if key != "failures" and key not in broadcasts.ACCOUNT_COLUMNS}
    data["edited"] = bool(broadcast["edited_by"])
    data["hints"] = vocabulary.hints_for(broadcast["failures"])
    data["estimated_cost"] = costs.estimate(costs.messages_for(get_db().conn, broadcast),
                                            current_app.config)
    data["reactions"] = reactions.counts(get_db().conn, broadcast["id"])
    data["corrections"] = correction_store.of(get_db().conn, broadcast["id"])
    return data


@bp.get("/openapi.json")
def openapi_document():
    """The API's description: documentation, so no token."""
    return jsonify(openapi.document())


@bp.get("/stats")
@token_required
def stats():
    conn = get_db().conn
    texts = current_app.extensions["infokanal"].texts
    return jsonify(subscribers=subscribers.count_active(conn),
                   topics=audience.by_topic(conn, [t.slug for t in texts.topics]),
                   languages=audience.by_language(conn, texts.main))


@bp.get("/topics")
@token_required
def topics():
    """The topics citizens can choose, with how many get each (subscribers of everything
    count for each)."""
    conn = get_db().conn
    texts = current_app.extensions["infokanal"].texts
    counts = audience.by_topic(conn, [t.slug for t in texts.topics])
    return jsonify(topics=[{"slug": t.slug, "name": t.name, "subscribers": counts[t.slug]}
                           for t in texts.topics])


@bp.post("/broadcasts")
@token_required
@json_body
def create_broadcast(data):
    try:
        answer = announcements.submit(get_db(), data, current_app.config, created_by=audit.API)
    except announcements.InvalidBroadcast as exc:
        return error(str(exc), 400)
    answer["estimated_cost"] = costs.estimate(answer["recipients"], current_app.config)
    return jsonify(answer), 202


@bp.post("/broadcasts/plan")
@token_required
@json_body
def plan_broadcast(data):
    """What ``POST /api/broadcasts`` with this body would do (time, reach today, cost, the
    month's budget, warnings), creating nothing."""
    try:
        return jsonify(announcements.plan_of(get_db(), data, current_app.config))
    except announcements.InvalidBroadcast as exc:
        return error(str(exc), 400)


@bp.get("/costs")
@token_required
def month_costs():
    """The month in numbers (``?month=YYYY-MM``, default: this one): counts and estimated
    cost, against the budget."""
    settings = current_app.config
    raw = request.args.get("month")
    try:
        month = (month_report.parse_month(raw) if raw is not None
                 else month_report.this_month(settings))
    except month_report.InvalidMonth as exc:
        return error(str(exc), 400)
    return jsonify(month_report.report(get_db().conn, settings, month))


@bp.post("/media")
@token_required
def upload_media():
    """A picture, video or PDF for broadcasts (multipart, field ``file``), checked and written
    anew without its metadata; answers its public URL, for ``media_url``."""
    upload = request.files.get("file")
    if upload is None:
        return error("send the file as multipart/form-data in the field \"file\"", 400)
    try:
        url = store_upload(upload)
    except InvalidUpload as exc:
        return error(str(exc), 400)
    return jsonify(url=url), 201


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
    return _change(broadcast_id, announcements.cancel)


@bp.post("/broadcasts/<int:broadcast_id>/resume")
@token_required
def resume_broadcast(broadcast_id):
    return _change(broadcast_id, partial(announcements.resume, settings=current_app.config))


@bp.post("/broadcasts/<int:broadcast_id>/correct")
@token_required
@json_body
def correct_broadcast(data, broadcast_id):
    """A correction ("Berichtigung") of a broadcast, to exactly those it reached."""
    try:
        answer = corrections.correct(get_db(), broadcast_id, data, current_app.config,
                                     created_by=audit.API,
                                     texts=current_app.extensions["infokanal"].texts)
    except broadcasts.BroadcastNotFound:
        return error(f"no broadcast {broadcast_id}", 404)
    except corrections.CannotCorrect as exc:
        return error(str(exc), 409, **exc.fields)  # a retry learns which correction went
    except announcements.InvalidBroadcast as exc:
        return error(str(exc), 400)
    answer["estimated_cost"] = costs.estimate(answer["recipients"], current_app.config)
    return jsonify(answer), 202


@bp.post("/broadcasts/<int:broadcast_id>/poll/close")
@token_required
def close_poll(broadcast_id):
    try:
        polls.close(get_db(), broadcast_id, audit.API)
    except broadcasts.BroadcastNotFound:
        return error(f"no broadcast {broadcast_id}", 404)
    except stored_polls.NotAPoll:
        return error(f"broadcast {broadcast_id} asks nothing: it has no poll to close", 404)
    except stored_polls.AlreadyClosed as exc:
        return error(f"the poll of broadcast {broadcast_id} was closed at {exc}", 409)
    return jsonify(broadcast_json(broadcasts.get(get_db().conn, broadcast_id)))


@bp.patch("/broadcasts/<int:broadcast_id>")
@token_required
@json_body
def edit_draft(data, broadcast_id):
    return _draft_change(broadcast_id, lambda: announcements.edit_draft(
        get_db(), broadcast_id, data, current_app.config))


@bp.post("/broadcasts/<int:broadcast_id>/send")
@token_required
def send_draft(broadcast_id):
    return _draft_change(broadcast_id, lambda: announcements.send_draft(
        get_db(), broadcast_id, current_app.config), status=202)


@bp.post("/broadcasts/<int:broadcast_id>/discard")
@token_required
def discard_draft(broadcast_id):
    return _draft_change(broadcast_id, lambda: announcements.discard_draft(get_db(),
                                                                           broadcast_id))


def _draft_change(broadcast_id, action, status=200):
    try:
        action()
    except broadcasts.BroadcastNotFound:
        return error(f"no broadcast {broadcast_id}", 404)
    except broadcasts.NotADraft as exc:
        return error(f"broadcast {broadcast_id} is {exc}; only a draft can be changed, sent "
                     "or discarded", 409)
    except announcements.InvalidBroadcast as exc:
        return error(str(exc), 400)
    return jsonify(broadcast_json(broadcasts.get(get_db().conn, broadcast_id))), status


def _change(broadcast_id, action):
    try:
        action(get_db(), broadcast_id, audit.API)
    except broadcasts.BroadcastNotFound:
        return error(f"no broadcast {broadcast_id}", 404)
    except announcements.InvalidBroadcast as exc:
        return error(str(exc), 400)  # resuming a text too long for the limit now
    except broadcasts.BroadcastClosed as exc:
        if str(exc) == broadcasts.DRAFT:
            return error(f"broadcast {broadcast_id} is a draft and was never sent: discard it "
                         f"instead (POST /api/broadcasts/{broadcast_id}/discard)", 409)
        return error(f"broadcast {broadcast_id} is {exc}; nothing to change", 409)
    return jsonify(broadcast_json(broadcasts.get(get_db().conn, broadcast_id)))


@bp.app_errorhandler(HTTPException)
def http_error(exc):
    """Errors under /api are JSON; elsewhere Flask's own pages stay."""
    if security.machine_path(request.path):
        return error(exc.description or exc.name, exc.code)
    if exc.code in (404, 405, 500):
        return security.html_error(exc)
    return exc
