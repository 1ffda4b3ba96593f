"""Twilio's Event Streams sink (``/twilio/events``): signed posts of a JSON array of events,
the messages' statuses among them, when ``TWILIO_RECEIPTS=event-streams``.

Twilio reads a 2xx as "stored" and keeps retrying anything else for up to four hours, so the
answer comes only after the commit, and a post that cannot be stored is a 503 it will send
again. What Twilio posts is read by its module (``platforms.twilio``); the events are stored
once each (``store.event_receipts``).
"""

import logging
import sqlite3

from flask import Response, current_app, request

from ..platforms import twilio as gateway
from ..store import counters, event_receipts
from ..store.db import write
from .database import get_db
from .webhook import bp, signed_url

log = logging.getLogger(__name__)

# A batch of events, about a kilobyte each: a thousand of them. The front reads no body at all
# before the signature field is there (``gate``).
BODY_LIMIT = 1024 * 1024


# On the webhook's blueprint: the platform's, signed, exempt from the console's CSRF check.
@bp.post(gateway.EVENTS_PATH.removeprefix(bp.url_prefix))
def events():
    request.max_content_length = BODY_LIMIT
    body = request.get_data()
    if not current_app.extensions["infokanal"].demo:
        try:
            signature = gateway.signature_of(request.headers)
        except gateway.InvalidWebhook as exc:
            return _refused("invalid", f"bad request: {exc}", 400)
        # The signature covers the URL with the body's hash: nothing is parsed before it holds.
        if not gateway.verify_events(current_app.config["TWILIO_AUTH_TOKEN"], signed_url(),
                                     body, signature):
            return _refused("forbidden", gateway.FORBIDDEN, 403)
    try:
        receipts = gateway.parse_events(body)
    except gateway.InvalidWebhook as exc:
        return _refused("invalid", f"bad request: {exc}", 400)
    try:
        with write(get_db()) as conn:
            event_receipts.record(conn, receipts)
    except sqlite3.OperationalError:
        # The database was locked past the busy timeout: nothing is stored, the sink retries.
        log.exception("Storing %d events of the sink failed; answered 503", len(receipts))
        return _plain("events not stored, try again", 503)
    return Response(b"", status=200, mimetype="text/plain")


def _refused(outcome, text, status):
    """A refused post writes nothing else: the count is a short write of its own."""
    counters.add_now(get_db(), counters.webhook(event_receipts.WEBHOOK, outcome))
    return _plain(text, status)


def _plain(text, status):
    return Response(text + "\n", status=status, mimetype="text/plain")
