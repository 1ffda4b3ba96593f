"""Demo mode's citizen simulator (``/admin/simulator``): write as a citizen, read the replies,
tap a poll's answer buttons, and, where the channel answers nothing, why.

It exists only in demo mode: with Twilio credentials every route here answers 404, because a
simulated citizen must never reach a real subscriber list that sends to WhatsApp.
"""

import secrets

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, \
    url_for

from .. import vocabulary as v
from ..domain import citizens, polls
from ..phone import mask
from ..store import outbox
from ..store import polls as poll_store
from ..store.db import now_iso
from .auth import login_required
from .database import get_db

bp = Blueprint("simulator", __name__, url_prefix="/admin/simulator")

HISTORY = 20


def silence_reason(outcome):
    """Why the channel answered nothing, in the press office's words; None when it answered.
    The reason is the one handling the message gave, never worked out here."""
    if outcome.silence == citizens.NOTICE_ALREADY_SENT:
        return ("Keine Antwort: Der Hinweis, dass der Kanal keine persönlichen Anfragen "
                f"beantwortet, wurde dieser Nummer {_within(outcome.window_seconds)} schon "
                "geschickt. Stichwörter wie „Start“, „Stop“ oder „Hilfe“ werden immer "
                "beantwortet.")
    if outcome.silence == citizens.REPLAYED:
        return ("Keine Antwort: Diese Nachricht kam zum zweiten Mal an und wurde schon beim "
                "ersten Mal beantwortet.")
    if outcome.silence == citizens.NOT_A_REQUEST:
        return ("Keine Antwort: Eine Reaktion oder ein Knopfdruck ohne Stichwort ist keine "
                "Anfrage.")
    return None


def _within(seconds):
    hours = seconds / 3600
    if hours == 1:
        return "in der letzten Stunde"
    if hours < 1:
        return f"in den letzten {round(seconds / 60)} Minuten"
    return f"in den letzten {hours:g} Stunden".replace(".", ",")


@bp.before_request
def only_in_demo_mode():
    if not current_app.extensions["infokanal"].demo:
        abort(404)


@bp.before_request
@login_required
def require_sign_in():
    """The simulator writes to the subscriber list, so it is for signed-in staff only."""


def _number():
    """The simulated citizen of this browser session: a made-up number, shown only masked."""
    if "sim_number" not in session:
        session["sim_number"] = "+49155" + "".join(secrets.choice("0123456789")
                                                   for _ in range(8))
        session["sim_sent"] = []
    return session["sim_number"]


@bp.get("")
def page():
    number = _number()
    services = current_app.extensions["infokanal"]
    conn = get_db().conn
    received = outbox.recent(conn, HISTORY, services.vault.hash(number))
    chat = [{"at": sent[0], "mine": True, "body": sent[1],
             "silence": sent[2] if len(sent) > 2 else None}
            for sent in session.get("sim_sent", [])]
    chat += [dict(_with_buttons(conn, item), at=item["created_at"], mine=False)
             for item in received]
    chat.sort(key=lambda item: item["at"])
    return render_template("console/simulator.html", masked=mask(number), chat=chat[-HISTORY:],
                           outbox=outbox.recent(conn, HISTORY))


@bp.post("")
def send():
    number = _number()
    body = request.form.get("body", "")[:1600]
    if body.strip():
        # Stamped before handling, so the citizen's message sorts before the reply to it.
        sent_at = now_iso()
        outcome = citizens.handle(get_db(), current_app.extensions["infokanal"].channel,
                                  number, body, "sim" + secrets.token_hex(14))
        session["sim_sent"] = (session.get("sim_sent", [])
                               + [[sent_at, body, silence_reason(outcome)]])[-HISTORY:]
    return redirect(url_for("simulator.page") + "#eingabe")


def _with_buttons(conn, item):
    """A message the simulated citizen received, with a poll's answer buttons to tap (the
    outbox keeps them as text under the message: "[Ja]  [Nein]")."""
    answers = poll_store.answers_of(conn, item["broadcast_id"]) if item["broadcast_id"] else None
    buttons = polls.buttons(item["broadcast_id"], answers) if answers else ()
    body = item["body"]
    if buttons:
        body = body.removesuffix("\n\n" + "  ".join(f"[{title}]" for _, title in buttons))
    return {"body": body, "kind": item["kind"], "media_url": item["media_url"],
            "buttons": buttons}


@bp.post("/tap")
def tap():
    """A tap on one of a poll's buttons, as WhatsApp reports it: the button's payload and its
    title as the text."""
    number = _number()
    parsed = polls.parse_payload(request.form.get("payload"))
    answers = poll_store.answers_of(get_db().conn, parsed[0]) if parsed else None
    if not answers or parsed[1] >= len(answers):
        abort(400, "Diese Schaltfläche gehört zu keiner Umfrage.")
    title = answers[parsed[1]]
    sent_at = now_iso()
    outcome = citizens.handle(get_db(), current_app.extensions["infokanal"].channel, number,
                              title, "sim" + secrets.token_hex(14), kind=v.INBOUND_BUTTON,
                              payload=request.form["payload"])
    session["sim_sent"] = (session.get("sim_sent", [])
                           + [[sent_at, f"[{title}]", silence_reason(outcome)]])[-HISTORY:]
    return redirect(url_for("simulator.page") + "#eingabe")


@bp.post("/new")
def new_citizen():
    session.pop("sim_number", None)
    session.pop("sim_sent", None)
    return redirect(url_for("simulator.page"))
