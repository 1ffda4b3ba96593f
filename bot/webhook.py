"""Twilio's webhooks: inbound citizen messages and status callbacks."""

import logging
import re
from functools import wraps

from flask import Blueprint, Response, current_app, request

from . import outbox, subscribers
from . import twilio_gateway as gateway
from .broadcasts import record_status, subscriber_for_sid
from .db import get_db, write
from .phone import InvalidAddress, e164_from_address

log = logging.getLogger(__name__)
bp = Blueprint("webhook", __name__, url_prefix="/twilio")

_SID = re.compile(r"^[A-Za-z0-9]{2,64}$")


def signed_url():
    """The URL Twilio signed: PUBLIC_URL + path (+ query), never what a proxy made of it."""
    base = current_app.config["PUBLIC_URL"]
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def twilio_signed(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        services = current_app.extensions["infokanal"]
        if not services.demo:
            valid = gateway.signature_is_valid(
                current_app.config["TWILIO_AUTH_TOKEN"], signed_url(), request.form,
                request.headers.get("X-Twilio-Signature", ""))
            if not valid:
                return _plain("forbidden: missing or invalid X-Twilio-Signature", 403)
        return view(*args, **kwargs)

    return wrapper


def _plain(text, status):
    return Response(text + "\n", status=status, mimetype="text/plain")


def _twiml(text=None):
    return Response(gateway.twiml(text), mimetype="application/xml")


@bp.post("/messages")
@twilio_signed
def inbound():
    form = request.form
    message_sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not message_sid or not _SID.match(message_sid):
        return _plain("bad request: MessageSid is missing or malformed", 400)
    try:
        e164 = e164_from_address(form.get("From"))
    except InvalidAddress as exc:
        return _plain(f"bad request: {exc}", 400)

    return _twiml(handle_inbound(e164, form.get("Body", ""), message_sid))


def handle_inbound(e164, body, message_sid):
    """Handle one citizen message once: the reply text, or None (replay, or nothing to say).

    The webhook and demo mode's citizen simulator both come through here, so the simulator
    shows exactly what a citizen on WhatsApp would get.
    """
    services = current_app.extensions["infokanal"]
    action, language = services.texts.classify(body)
    phone_hash = services.vault.hash(e164)
    keyword = (body or "").strip()[:40] if action else None
    # Encrypt before taking the write lock: every other webhook waits while it is held.
    phone_enc = services.vault.encrypt(e164) if action == "start" else None

    with write(get_db()) as conn:
        if not subscribers.record_inbound(conn, message_sid):
            return None
        reply = _reply(conn, services, action, language, e164, phone_hash, keyword,
                       message_sid, phone_enc)
        if reply and services.demo:
            outbox.add(conn, e164, phone_hash, reply, "reply")
    return reply


def _reply(conn, services, action, language, e164, phone_hash, keyword, message_sid,
           phone_enc):
    texts = services.texts
    if action == "start":
        result = subscribers.subscribe(conn, services.vault, e164, phone_hash, keyword,
                                       message_sid, phone_enc)
        return texts.get("welcome" if result == subscribers.NEW else "already_subscribed",
                         language)
    if action == "stop":
        result = subscribers.unsubscribe(conn, phone_hash, keyword, message_sid)
        return texts.get("goodbye" if result == subscribers.REMOVED else "not_subscribed",
                         language)
    if action == "help":
        return texts.get("help", language)
    window = current_app.config["NOTICE_WINDOW_HOURS"] * 3600
    if not subscribers.claim_notice(conn, phone_hash, window):
        return None
    notice = texts.get("notice", language)
    if not subscribers.is_subscribed(conn, phone_hash):
        notice += texts.get("notice_join", language)
    return notice


@bp.post("/status")
@twilio_signed
def status():
    update = gateway.parse_status(request.form)
    if update is None:
        # Unknown statuses and fields are Twilio's to add; acknowledge, store nothing.
        return _acknowledged()
    if not _SID.match(update.sid):
        return _plain("bad request: MessageSid is malformed", 400)
    with write(get_db()) as conn:
        record_status(conn, update)
        if update.opted_out:
            subscriber_id = subscriber_for_sid(conn, update.sid)
            if subscriber_id is not None:
                subscribers.unsubscribe_by_id(conn, subscriber_id, "platform-opt-out")
    return _acknowledged()


def _acknowledged():
    """200 with an empty body, for every callback that was understood or safely ignored
    (an unknown MessageSid included): the answer issue 3 names."""
    return Response(b"", status=200, mimetype="text/plain")
