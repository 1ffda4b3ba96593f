"""The platform's webhooks: inbound citizen messages and status callbacks.

What Twilio posts is read by its module (``platforms.twilio``); this module only turns HTTP
into calls of the domain and storage, and their results into answers.
"""

import logging
from functools import wraps

from flask import Blueprint, Response, current_app, request

from ..platforms import twilio as gateway
from ..domain import citizens
from ..phone import InvalidAddress, e164
from ..store import counters, replica, statuses
from ..store.db import write
from .database import get_db

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__, url_prefix="/twilio")


def signed_url():
    """The URL the platform signed: PUBLIC_URL + path (+ query), never what a proxy made of it."""
    base = current_app.config["PUBLIC_URL"]
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def platform_signed(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        services = current_app.extensions["infokanal"]
        if not services.demo:
            try:
                signature = gateway.signature_of(request.headers)
            except gateway.InvalidWebhook as exc:
                _count_refusal(view.__name__, "invalid")
                return _plain(f"bad request: {exc}", 400)
            valid = gateway.verify(current_app.config["TWILIO_AUTH_TOKEN"], signed_url(),
                                   request.form, signature)
            if not valid:
                _count_refusal(view.__name__, "forbidden")
                return _plain(gateway.FORBIDDEN, 403)
        return view(*args, **kwargs)

    return wrapper


# The webhook's name in the metrics (infokanal_webhook_requests_total{webhook=…}).
_METRIC_NAMES = {"inbound": "messages", "status": "status"}


def _count_refusal(view_name, outcome):
    """Count a refused request. It writes nothing else, so this is a write of its own; a flood
    of forged requests costs a short write each, as an accepted one would."""
    counters.add_now(get_db(), counters.webhook(_METRIC_NAMES[view_name], outcome))


def _plain(text, status):
    return Response(text + "\n", status=status, mimetype="text/plain")


def _twiml(text=None):
    return Response(gateway.twiml(text), mimetype="application/xml")


@bp.post("/messages")
@platform_signed
def inbound():
    try:
        message = gateway.parse_inbound(request.form)
        number = e164(message.sender)
    except gateway.InvalidWebhook as exc:
        _count_refusal("inbound", "invalid")
        return _plain(f"bad request: {exc}", 400)
    except InvalidAddress as exc:
        _count_refusal("inbound", "invalid")
        return _plain(f"bad request: From {exc}", 400)
    channel = current_app.extensions["infokanal"].channel
    outcome = citizens.handle(get_db(), channel, number, message.body, message.message_id,
                              message.kind, message.payload, message.replied_to)
    # A Start or Stop is answered once the copy off the box has it (or the wait is over).
    replica.confirm(get_db(), current_app.config)
    return _twiml(outcome.reply)


@bp.post("/status")
@platform_signed
def status():
    try:
        update = gateway.parse_status(request.form)
    except gateway.InvalidWebhook as exc:
        _count_refusal("status", "invalid")
        return _plain(f"bad request: {exc}", 400)
    if update is None:
        # Unknown statuses and fields are the platform's to add; acknowledge, store nothing.
        return _acknowledged()
    with write(get_db()) as conn:
        statuses.record(conn, update)
    return _acknowledged()


def _acknowledged():
    """200 with an empty body, for every callback that was understood or safely ignored
    (an unknown message id included)."""
    return Response(b"", status=200, mimetype="text/plain")
