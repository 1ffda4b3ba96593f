"""Meta's webhook (``/meta/webhook``): the subscription handshake, and the signed posts that
carry citizens' messages and status reports.

What Meta posts is read by its module (``platforms.meta``); this module turns HTTP into one
call of the domain (``citizens.handle_events``) and its result into an answer. The front
(``front.Front``) takes posts that carry nothing but status reports itself; everything else
comes here.
"""

import logging
from dataclasses import replace

from flask import Blueprint, Response, current_app, request

from ..domain import citizens
from ..phone import InvalidAddress, e164, mask
from ..platforms import meta
from ..store import counters, replica
from .bodies import encodable
from .database import get_db

log = logging.getLogger(__name__)
bp = Blueprint("meta_webhook", __name__)

# Meta's webhook payloads can be up to 3 MB (its webhooks reference): a batch of many status
# reports and messages. Flask's limit for every other request is far lower.
BODY_LIMIT = 3 * 1024 * 1024
# The name in the metrics (infokanal_webhook_requests_total{webhook="meta", outcome=…}) of a
# post refused before it was read: it may have carried messages, statuses or both.
METRIC_NAME = "meta"


@bp.get(meta.WEBHOOK_PATH)
def handshake():
    """Meta's subscription check: the challenge back when the token is ours. Without a
    META_VERIFY_TOKEN (demo mode) no token is ours."""
    challenge = meta.handshake_of(request.args, current_app.config["META_VERIFY_TOKEN"])
    if challenge is None:
        return _plain("forbidden: the verify token does not match", 403)
    return Response(challenge, status=200, mimetype="text/plain")


@bp.post(meta.WEBHOOK_PATH)
def events():
    request.max_content_length = BODY_LIMIT
    services = current_app.extensions["infokanal"]
    if not services.demo:
        try:
            signature = meta.signature_of(request.headers)
        except meta.InvalidWebhook as exc:
            _count_refusal("invalid")
            return _plain(f"bad request: {exc}", 400)
        if not signature:
            _count_refusal("forbidden")
            return _plain(f"unauthorized: {meta.SIGNATURE_HEADER} is missing", 401)
        # The signature covers the raw body: nothing is parsed before it holds.
        if not meta.verify(current_app.config["META_APP_SECRET"], request.get_data(),
                           signature):
            _count_refusal("forbidden")
            return _plain(meta.FORBIDDEN, 403)
    try:
        carried = meta.parse(request.get_data(), current_app.config["META_PHONE_NUMBER_ID"])
    except meta.InvalidWebhook as exc:
        _count_refusal("invalid")
        return _plain(f"bad request: {exc}", 400)
    kept, skipped = handleable(carried)
    citizens.handle_events(get_db(), services.channel, kept, invalid=skipped)
    if kept.messages:
        # Acknowledged once the copy off the box has the citizens' changes (or the wait is over).
        replica.confirm(get_db(), current_app.config)
    # Replies, where there are any, are queued for the worker: Meta's webhook carries none.
    return Response(b"", status=200, mimetype="text/plain")


def handleable(carried):
    """What of a post can be handled, and how many of its messages cannot: a sender that is
    no possible number for our phone library, an id or text that cannot be stored (a lone
    surrogate, which JSON can spell but UTF-8 cannot). Meta posts a refused request again for
    days, whole: one such message must not hold back the rest, nor the statuses with it."""
    messages = []
    for message in carried.messages:
        reason = _unencodable(message, ("message_id", "sender", "body", "replied_to"))
        if reason is None:
            try:
                e164(message.sender)
            except InvalidAddress as exc:
                reason = f"sender {exc}"
        if reason is None:
            messages.append(message)
        else:
            log.warning("Meta's webhook: a message from %s skipped: its %s", _masked(message),
                        reason)
    statuses = []
    for update in carried.statuses:
        reason = _unencodable(update, ("message_id", "error_code"))
        if reason is None:
            statuses.append(update)
        else:
            log.warning("Meta's webhook: a status report skipped: its %s", reason)
    return replace(carried, messages=messages, statuses=statuses), \
        len(carried.messages) - len(messages)


def _unencodable(item, names):
    """The first of ``names`` whose value cannot be stored, as a reason, or None."""
    for name in names:
        if not _encodable_or_none(getattr(item, name)):
            return f"{name.replace('_', ' ')} is not valid Unicode text"
    return None


def _masked(message):
    sender = str(message.sender or "").encode("utf-8", "replace").decode("utf-8")
    return mask(sender)


def _encodable_or_none(value):
    return value is None or encodable(value)


def _count_refusal(outcome):
    """A refused post writes nothing else: the count is a short write of its own."""
    counters.add_now(get_db(), counters.webhook(METRIC_NAME, outcome))


def _plain(text, status):
    return Response(text + "\n", status=status, mimetype="text/plain")
