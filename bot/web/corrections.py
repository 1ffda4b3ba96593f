"""On a broadcast's console page: its citizens' emoji reactions, counted, and the
"Berichtigung" form that sends a correction to exactly those it reached (a view on the
console's blueprint, and what the page's ``console/_feedback.html`` part shows).

Every role may write a correction; who may send it at once is decided as for a new broadcast
(``approval.must_wait``): otherwise it waits for a second publisher's approval, and over the
monthly budget for an admin's. The form carries a one-time token, as compose's confirmation
does: a double click, a reload of the answer or a browser's resend cannot send it twice.
"""

import secrets

from flask import current_app, flash, g, redirect, request, session, url_for

from ..domain import announcements, approval, corrections
from ..store import broadcasts, reactions, users
from ..store import corrections as correction_store
from . import costs_page, labels
from .console import bp, broadcast_or_404, detail_page
from .database import get_db


@bp.app_context_processor
def feedback_helpers():
    return {"feedback_of": feedback_of}


def feedback_of(broadcast):
    """What the page's reactions and correction parts show of one broadcast."""
    conn = get_db().conn
    counted = reactions.counts(conn, broadcast["id"])
    reached = 0
    if broadcast["status"] in corrections.FINISHED:
        reached = correction_store.reached(conn, broadcast["id"])
    settings = current_app.config
    texts = current_app.extensions["infokanal"].texts
    head = corrections.head(broadcast["text"], texts.messages[texts.main]["correction_head"])
    further = settings["LANGUAGE_LIST"][1:]
    return {
        "reactions": list(counted.items()), "reactions_total": sum(counted.values()),
        "corrections": correction_store.of(conn, broadcast["id"]),
        "corrects": broadcast.get("corrects"),
        "correctable": reached > 0, "reached": reached, "head": head,
        "room": announcements.text_limit(announcements.template_mode(settings)) - len(head),
        "waits": approval.must_wait(settings, g.role, broadcast["urgent"]),
        "text": request.form.get("correction", "") if request.endpoint == "console.correct"
        else "",
        "languages": [(code, texts.language_names[code], _form_text(f"correction_{code}")
                       if request.endpoint == "console.correct" else "") for code in further],
        "nonce": _new_nonce(broadcast["id"]) if reached > 0 else None,
    }


# How many broadcasts' correction forms, open in several tabs, keep a valid token each.
_NONCES_KEPT = 10


def _new_nonce(broadcast_id):
    """The one-time token of this broadcast's correction form, kept in the session until it is
    used: the same page open twice carries the same, so only one of them sends."""
    nonces = dict(session.get("correction_nonces") or {})
    if str(broadcast_id) not in nonces:
        nonces[str(broadcast_id)] = secrets.token_urlsafe(16)
        session["correction_nonces"] = dict(list(nonces.items())[-_NONCES_KEPT:])
    return nonces[str(broadcast_id)]


def _used_nonce(broadcast_id, given):
    """Whether ``given`` is the broadcast's one-time token; it is spent either way."""
    nonces = dict(session.get("correction_nonces") or {})
    expected = nonces.pop(str(broadcast_id), None)
    session["correction_nonces"] = nonces
    return bool(expected) and secrets.compare_digest(given, expected)


def _form_text(name):
    return request.form.get(name, "")[:5000].replace("\r\n", "\n")


@bp.post("/broadcasts/<int:broadcast_id>/correct")
def correct(broadcast_id):
    """Write a correction of a broadcast that went out: sent at once, or waiting for
    approval as a new broadcast of the same urgency would."""
    original = broadcast_or_404(broadcast_id)
    if not _used_nonce(broadcast_id, request.form.get("nonce", "")):
        flash("Diese Berichtigung wurde schon abgeschickt (oder die Seite war veraltet). Unter "
              "„Berichtigt durch“ sehen Sie, was gesendet wurde.")
        return redirect(url_for("console.detail", broadcast_id=broadcast_id))
    text = _form_text("correction")
    translations = {code: _form_text(f"correction_{code}")
                    for code in current_app.config["LANGUAGE_LIST"][1:]
                    if _form_text(f"correction_{code}").strip()}
    data = {"text": text, "translations": translations} if translations else {"text": text}
    waits = approval.must_wait(current_app.config, g.role, original["urgent"])
    try:
        answer = corrections.correct(get_db(), broadcast_id, data, current_app.config,
                                     created_by=f"console:{g.user}",
                                     hold=broadcasts.AWAITING if waits else None,
                                     admin=users.at_least(g.role, users.ADMIN),
                                     texts=current_app.extensions["infokanal"].texts)
    except corrections.AlreadyCorrected as exc:
        return detail_page(original, status=409, error=(
            f"Genau diese Berichtigung wurde eben schon geschrieben (Meldung Nr. {exc.existing})."
            " Sie wurde nicht noch einmal gesendet."))
    except corrections.CannotCorrect as exc:
        return detail_page(original, status=409, error=_german(str(exc)))
    except announcements.InvalidBroadcast as exc:
        return detail_page(original, status=400, error=_german(str(exc)))
    if answer["status"] == broadcasts.AWAITING and answer["over_budget"]:
        flash(costs_page.BUDGET_HOLD)
    elif answer["status"] == broadcasts.AWAITING:
        flash("Die Berichtigung wartet jetzt auf Freigabe durch eine zweite Person mit der Rolle "
              "„Veröffentlichen“. Sie geht dann an alle, die die Meldung erreicht hat.")
    else:
        flash(f"Die Berichtigung wird an {labels.subscribers(answer['recipients'])} gesendet: "
              "genau an die, die die Meldung erreicht hat.")
    return redirect(url_for("console.detail", broadcast_id=answer["id"]))


def _german(reason):
    """The refusal in the console's words."""
    if reason.startswith("translations."):
        return ("Eine Übersetzung der Berichtigung ist leer, zu lang oder enthält Zeichen, die "
                "nicht gesendet werden können. Es wurde nichts gesendet.")
    if "missing or empty" in reason:
        return "Bitte schreiben Sie, was richtig ist. Es wurde nichts gesendet."
    if "too long" in reason:
        return ("Die Berichtigung ist zu lang für eine WhatsApp-Nachricht. Bitte kürzen Sie "
                "sie. Es wurde nichts gesendet.")
    if "still going out" in reason:
        return ("Die Meldung wird noch gesendet. Eine Berichtigung geht an alle, die sie "
                "erreicht hat: warten Sie, bis sie fertig ist, oder brechen Sie sie ab.")
    if "reached no one" in reason:
        return ("Die Meldung hat niemanden erreicht, der noch angemeldet ist: es gibt "
                "niemanden, dem eine Berichtigung geschickt werden könnte.")
    return ("Diese Meldung wurde noch nicht gesendet: ändern Sie sie, statt sie zu "
            "berichtigen.")
