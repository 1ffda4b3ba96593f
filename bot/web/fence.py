"""A machine that a failover replaced takes no change any more, over any path.

The sender and the replica process stop on their own once the replica store's lease names
another machine (``bot/delivery/fencing.py``, ``scripts/flask replica run``), and they note it
beside this machine's database (``lease.mark_replaced``). Until the host name and the
platform's webhooks point at the new primary, this web process may still be reached: a Start it
answered, or a broadcast it queued, would exist only in a database nobody sends from or copies.
So every request that would change something is refused with 503 and its reason; reading stays
possible, signing in to read too, and ``/healthz`` says the machine was replaced. Twilio then
tries the webhook's fallback URL; Meta posts the webhook again later, by which time it reaches
the new primary. ``scripts/flask failover`` on this machine makes it the primary again.
"""

from flask import current_app, jsonify, render_template, request

from ..store import lease
from . import security

_READING = frozenset({"GET", "HEAD", "OPTIONS"})
# Signing in and out writes only to a database that is set aside anyway, and lets the press
# office read the console's old state and its notice.
_LET_THROUGH = frozenset({"auth.login", "auth.logout"})


def _refuse_changes():
    if request.method in _READING or request.endpoint in _LET_THROUGH:
        return None
    by = lease.replaced_by(current_app.config["DATABASE_PATH"])
    if by is None:
        return None
    if security.machine_path(request.path):
        # Not who replaced it: the answer goes to callers not yet authenticated.
        return jsonify(error=f"this server was replaced in a failover ({by['at'][:16]} UTC) "
                             "and takes no changes any more: nothing was stored; send to the "
                             "new primary"), 503
    return render_template(
        "error.html", title="Dieser Server wurde ersetzt",
        message="Nach einem Ausfall arbeitet der Infokanal auf einem anderen Server weiter. "
                "Hier wird nichts mehr gespeichert, auch Ihre Eingabe nicht. Bitte wenden Sie "
                "sich an die IT; sobald die Adresse umgestellt ist, geht es dort weiter."), 503


def init_app(app):
    """Only with a replica: without one there is no failover that could replace this machine,
    and the webhooks' hot path does not look for the note."""
    if app.config.get("REPLICA_URL"):
        app.before_request(_refuse_changes)
