"""The platform's webhooks: inbound citizen messages and status callbacks.

What the platform posts is read by the seam (``twilio_gateway``); this module only turns HTTP
into calls of the domain and storage, and their results into answers.
"""

import logging
from functools import wraps

from flask import Blueprint, Response, current_app, request

from .. import twilio_gateway as gateway
from ..domain import citizens
from ..phone import InvalidAddress, e164
from ..store import statuses
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
            valid = gateway.verify(current_app.config["TWILIO_AUTH_TOKEN"], signed_url(),
                                   request.form, gateway.signature_of(request.headers))
            if not valid:
                return _plain(gateway.FORBIDDEN, 403)
        return view(*args, **kwargs)

    return wrapper


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
        return _plain(f"bad request: {exc}", 400)
    except InvalidAddress as exc:
        return _plain(f"bad request: From {exc}", 400)
    channel = current_app.extensions["infokanal"].channel
    return _twiml(citizens.handle(get_db(), channel, number, message.body, message.message_id))


@bp.post("/status")
@platform_signed
def status():
    try:
        update = gateway.parse_status(request.form)
    except gateway.InvalidWebhook as exc:
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
