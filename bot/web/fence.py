"""A machine that a failover replaced takes no change any more, over any path.

The sender and the replica process stop on their own once the replica store's lease names
another machine (``bot/delivery/fencing.py``, ``scripts/flask replica run``), and they note it in
this machine's database (``lease.REPLACED_BY``). Until the host name and the platform's webhooks
point at the new primary, this web process may still be reached: a Start it answered, or a
broadcast it queued, would exist only in a database nobody sends from or copies. So every
request that would change something is refused with 503 and its reason; reading stays possible,
and ``/healthz`` says the machine was replaced. Twilio then tries the webhook's fallback URL;
Meta posts the webhook again later, by which time it reaches the new primary.
"""

from flask import jsonify, render_template, request

from ..store import lease
from . import security
from .database import get_db

_READING = frozenset({"GET", "HEAD", "OPTIONS"})


def replaced():
    """{"owner", "at"} once a failover replaced this machine, else None."""
    return lease.replaced_by(get_db().conn)


def _refuse_changes():
    if request.method in _READING:
        return None
    by = replaced()
    if by is None:
        return None
    if security.machine_path(request.path):
        return jsonify(error=f"this server was replaced in a failover by {by['owner']} "
                             f"({by['at'][:16]} UTC) and takes no changes any more: nothing "
                             "was stored; send to the new primary", replaced_by=by["owner"]), 503
    return render_template(
        "error.html", title="Dieser Server wurde ersetzt",
        message="Nach einem Ausfall arbeitet der Infokanal auf einem anderen Server weiter. "
                "Hier wird nichts mehr gespeichert, auch Ihre Eingabe nicht. Bitte wenden Sie "
                "sich an die IT; sobald die Adresse umgestellt ist, geht es dort weiter."), 503


def init_app(app):
    """Only with a replica: without one there is no failover that could replace this machine,
    and the webhooks' hot path does not read the note."""
    if app.config.get("REPLICA_URL"):
        app.before_request(_refuse_changes)
