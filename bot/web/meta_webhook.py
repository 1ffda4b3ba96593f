"""Meta's webhook (``/meta/webhook``): the subscription handshake, and the signed posts that
carry citizens' messages and status reports.

What Meta posts is read by its module (``platforms.meta``); this module turns HTTP into one
call of the domain (``citizens.handle_events``) and its result into an answer. The front
(``front.Front``) takes posts that carry nothing but status reports itself; everything else
comes here.
"""

from flask import Blueprint, Response, current_app, request

from ..domain import citizens
from ..phone import InvalidAddress
from ..platforms import meta
from ..store import counters
from .bodies import encodable
from .database import get_db

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
        unusable = unencodable(carried)
        if unusable:
            raise meta.InvalidWebhook(f"{unusable} is not valid Unicode text")
        citizens.handle_events(get_db(), services.channel, carried)
    except meta.InvalidWebhook as exc:
        _count_refusal("invalid")
        return _plain(f"bad request: {exc}", 400)
    except InvalidAddress as exc:
        _count_refusal("invalid")
        return _plain(f"bad request: a message's sender {exc}", 400)
    # Replies, where there are any, are queued for the worker: Meta's webhook carries none.
    return Response(b"", status=200, mimetype="text/plain")


def unencodable(carried):
    """Which of the ids and texts a post carried cannot be stored (a lone surrogate, which
    JSON can spell but UTF-8 cannot), or None."""
    for message in carried.messages:
        for name in ("message_id", "sender", "body", "replied_to"):
            if not _encodable_or_none(getattr(message, name)):
                return f"a message's {name}"
    for update in carried.statuses:
        for name in ("message_id", "error_code"):
            if not _encodable_or_none(getattr(update, name)):
                return f"a status's {name}"
    return None


def _encodable_or_none(value):
    return value is None or encodable(value)


def _count_refusal(outcome):
    """A refused post writes nothing else: the count is a short write of its own."""
    counters.add_now(get_db(), counters.webhook(METRIC_NAME, outcome))


def _plain(text, status):
    return Response(text + "\n", status=status, mimetype="text/plain")
