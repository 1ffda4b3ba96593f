"""What the press office does to a broadcast from its page (views on the console's blueprint):
save or send a draft, ask for approval, approve or return it, change a planned broadcast, call
it off or stop it, keep it off the public page, send a test to the staff phones.

Each view names the role it needs (``roles.requires``) and goes through the domain, which
writes the audit entry with the change.
"""

from flask import current_app, flash, g, redirect, render_template, request, url_for

from ..domain import announcements, approval, authorship, budget
from ..store import broadcasts, users
from . import costs_page, labels, roles, trial
from .console import FOREIGN_PICTURE, bp, broadcast_or_404, detail_page, foreign_picture, not_found
from .database import get_db


def _back(broadcast_id):
    return redirect(url_for("console.detail", broadcast_id=broadcast_id))


def _text(name):
    return request.form.get(name, "")[:5000].replace("\r\n", "\n")


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@roles.requires(users.PUBLISHER)
def cancel(broadcast_id):
    broadcast = broadcast_or_404(broadcast_id)
    try:
        announcements.cancel(get_db(), broadcast_id, g.user)
    except broadcasts.BroadcastClosed as exc:
        flash(f"Die Meldung ist bereits {labels.status(str(exc))} und kann nicht mehr "
              "abgebrochen werden.")
    else:
        if broadcast["status"] == "scheduled":
            flash("Die Meldung ist abgesagt und wird nicht gesendet.")
        else:
            flash("Die Meldung wurde abgebrochen. Was schon unterwegs war, kommt noch an.")
    return _back(broadcast_id)


@bp.post("/broadcasts/<int:broadcast_id>/draft")
def draft(broadcast_id):
    """Save a draft's text (and urgency) as the form shows it, then send it, ask for approval
    or send a test, as the button says: what is in the box is what goes out, never an older
    saved text."""
    action = request.form.get("action", "save")
    if action == "send" and not roles.may(users.PUBLISHER):
        return roles.refused(users.PUBLISHER)
    form = {"text": _text("text"), "urgent": "1" if request.form.get("urgent") == "1" else ""}
    data = {"text": form["text"], "urgent": form["urgent"] == "1"}
    database = get_db()
    try:
        dropped = announcements.edit_draft(database, broadcast_id, data, current_app.config,
                                           g.user, roles.may(users.PUBLISHER))
        _translations_removed(dropped)
        if action == "send" and (approval.must_wait(current_app.config, g.role, data["urgent"])
                                 or _over_budget(database, broadcast_id)):
            action = "request"
        if action == "send":
            recipients = announcements.send_draft(database, broadcast_id, current_app.config,
                                                  g.user)
            flash(f"Meldung wird an {labels.subscribers(recipients)} gesendet.")
        elif action == "request":
            approval.request(database, broadcast_id, g.user, current_app.config)
            if broadcasts.get(database.conn, broadcast_id)["over_budget"]:
                flash(costs_page.BUDGET_HOLD)
            else:
                flash("Die Meldung wartet jetzt auf Freigabe durch eine zweite Person mit der "
                      "Rolle „Veröffentlichen“. Sie wird erst nach der Freigabe gesendet.")
        elif action == "test":
            broadcast = broadcasts.get(database.conn, broadcast_id)
            return detail_page(broadcast, notice=trial.send(broadcast, broadcast_id))
        else:
            flash("Entwurf gespeichert. Er wird erst gesendet, wenn Sie auf „Senden“ klicken.")
    except broadcasts.BroadcastNotFound:
        return not_found(broadcast_id)
    except broadcasts.NotADraft as exc:
        flash(_no_longer_a_draft(str(exc)))
    except authorship.ForeignDraft as exc:
        return foreign_draft(str(exc))
    except announcements.InvalidBroadcast as exc:
        return detail_page(broadcasts.get(database.conn, broadcast_id), form=form,
                           error=labels.invalid_broadcast(str(exc)), status=400)
    return _back(broadcast_id)


def _over_budget(database, broadcast_id):
    """Whether this account's sending the draft would take the month over the budget, so that
    it must wait for an admin instead (``budget.needs_admin``)."""
    current = broadcasts.get(database.conn, broadcast_id)
    found = budget.verdict(database.conn, current_app.config, current["urgent"],
                           current["topics"], send_at=current["send_at"])
    return budget.needs_admin(found, current["urgent"], current["created_by"],
                              users.at_least(g.role, users.ADMIN))


def foreign_draft(created_by):
    """The 403 for an editor who tried to change a draft someone else wrote."""
    if authorship.relayed(created_by):
        message = ("Diesen Entwurf hat die Warnungs-Weitergabe aus einer amtlichen Warnung "
                   "geschrieben. Ändern dürfen ihn nur Personen mit der Rolle "
                   "„Veröffentlichen“ oder „Administration“. Es wurde nichts geändert.")
    else:
        message = (f"Diesen Entwurf hat {labels.audit_actor(authorship.author(created_by))} "
                   "geschrieben. Ändern oder verwerfen dürfen ihn nur diese Person und "
                   "Personen mit der Rolle „Veröffentlichen“. Es wurde nichts geändert.")
    return render_template("error.html", title="Nicht erlaubt", message=message), 403


@bp.post("/broadcasts/<int:broadcast_id>/discard")
def discard(broadcast_id):
    broadcast = broadcast_or_404(broadcast_id)
    # An editor may throw away what they wrote; someone else's draft (or a relayed warning's)
    # is a publisher's decision.
    if not authorship.may_change(broadcast["created_by"], g.user, roles.may(users.PUBLISHER)):
        return roles.refused(users.PUBLISHER)
    try:
        announcements.discard_draft(get_db(), broadcast_id, g.user)
    except broadcasts.NotADraft as exc:
        flash(_no_longer_a_draft(str(exc)))
    else:
        flash("Der Entwurf wurde verworfen und wird nicht gesendet.")
    return _back(broadcast_id)


@bp.post("/broadcasts/<int:broadcast_id>/approve")
@roles.requires(users.PUBLISHER)
def approve(broadcast_id):
    broadcast = broadcast_or_404(broadcast_id)
    database = get_db()
    try:
        status, recipients = approval.approve(database, broadcast_id, g.user,
                                              current_app.config,
                                              seen=request.form.get("version", "")[:100],
                                              role=g.role)
    except broadcasts.WrongStatus as exc:
        flash(_not_awaiting(str(exc)))
    except approval.AdminNeeded:
        return detail_page(broadcast, status=403, error=(
            "Diese Meldung würde das Monatsbudget überschreiten. Freigeben darf sie nur eine "
            "Person mit der Rolle „Administration“. Freigegeben wurde nichts."))
    except approval.SelfApproval:
        return detail_page(broadcast, status=403, error=(
            "Sie haben die Freigabe selbst angefragt. Freigeben muss eine zweite Person mit der "
            "Rolle „Veröffentlichen“."))
    except approval.VersionMissing:
        return detail_page(broadcast, status=400, error=(
            "Die Freigabe nennt nicht, welche Fassung Sie geprüft haben, und wurde nicht "
            "erteilt. Bitte prüfen Sie die Meldung hier und geben Sie sie dann frei."))
    except approval.VersionChanged:
        # The page shows the broadcast as it is now, with a form for this version.
        return detail_page(broadcasts.get(database.conn, broadcast_id), status=409, error=(
            "Der Text wurde geändert, seit Sie ihn geöffnet haben. Bitte prüfen Sie die neue "
            "Fassung. Freigegeben wurde nichts."))
    except announcements.InvalidBroadcast as exc:
        flash(labels.invalid_broadcast(str(exc)))
    else:
        if status == "scheduled":
            flash(f"Freigegeben. Die Meldung ist geplant, jetzt für "
                  f"{labels.subscribers(recipients)}.")
        else:
            flash(f"Freigegeben. Die Meldung wird an {labels.subscribers(recipients)} "
                  "gesendet.")
    return _back(broadcast_id)


@bp.post("/broadcasts/<int:broadcast_id>/reject")
def reject(broadcast_id):
    """Return a broadcast waiting for approval to the drafts: a publisher's "not like this",
    or the one who asked taking it back to change it."""
    broadcast = broadcast_or_404(broadcast_id)
    if broadcast["requested_by"] != g.user and not roles.may(users.PUBLISHER):
        return roles.refused(users.PUBLISHER)
    try:
        approval.reject(get_db(), broadcast_id, g.user)
    except broadcasts.WrongStatus as exc:
        flash(_not_awaiting(str(exc)))
    else:
        flash("Die Meldung ist wieder ein Entwurf. Sie kann geändert und erneut zur Freigabe "
              "vorgelegt werden.")
    return _back(broadcast_id)


@bp.post("/broadcasts/<int:broadcast_id>/edit")
@roles.requires(users.PUBLISHER)
def edit_scheduled(broadcast_id):
    """Change a planned broadcast that has not started."""
    broadcast = broadcast_or_404(broadcast_id)
    form = {name: _text(name) for name in ("text", "media_url", "send_at", "expires_at")}
    form["urgent"] = "1" if request.form.get("urgent") == "1" else ""
    data = {"text": form["text"], "media_url": form["media_url"].strip() or None,
            "send_at": form["send_at"].strip() or None,
            "expires_at": form["expires_at"].strip() or None, "urgent": form["urgent"] == "1"}
    if foreign_picture(data["media_url"], kept=broadcast["media_url"]):
        return detail_page(broadcast, form=form, error=FOREIGN_PICTURE, status=400)
    try:
        status, dropped = announcements.edit_scheduled(
            get_db(), broadcast_id, data, current_app.config, g.user,
            needs_approval=approval.required(current_app.config, data["urgent"]),
            admin=users.at_least(g.role, users.ADMIN))
        _translations_removed(dropped)
    except broadcasts.WrongStatus as exc:
        flash(f"Die Meldung kann nicht mehr geändert werden (Status: "
              f"{labels.status(str(exc))}).")
    except announcements.InvalidBroadcast as exc:
        return detail_page(broadcast, form=form, error=labels.invalid_broadcast(str(exc)),
                           status=400)
    else:
        if status != broadcasts.AWAITING:
            flash("Änderung gespeichert.")
        elif broadcasts.get(get_db().conn, broadcast_id)["over_budget"]:
            flash(costs_page.BUDGET_HOLD)
        else:
            flash("Änderung gespeichert. Sie wartet jetzt auf Freigabe durch eine zweite Person.")
    return _back(broadcast_id)


def _translations_removed(languages):
    if languages:
        known = current_app.extensions["infokanal"].texts.language_names
        names = ", ".join(known.get(code, code) for code in languages)
        flash(f"Der Text wurde geändert: die Übersetzung ({names}) passte nicht mehr zu ihm "
              "und wurde entfernt. Wer diese Sprache gewählt hat, erhält den geänderten Text.")


@bp.post("/broadcasts/<int:broadcast_id>/archive")
@roles.requires(users.PUBLISHER)
def archive(broadcast_id):
    """Keep a broadcast off the public page and feed, or show it there again."""
    broadcast_or_404(broadcast_id)
    public = request.form.get("public") == "1"
    announcements.set_public(get_db(), broadcast_id, public, g.user)
    flash("Die Meldung steht wieder auf der öffentlichen Seite und im Feed." if public else
          "Die Meldung ist von der öffentlichen Seite und aus dem Feed entfernt.")
    return _back(broadcast_id)


@bp.post("/broadcasts/<int:broadcast_id>/test")
def test_send(broadcast_id):
    """A stored broadcast's text to the test phones (every role may check its work so)."""
    broadcast = broadcast_or_404(broadcast_id)
    return detail_page(broadcast, notice=trial.send(broadcast, broadcast_id))


def _not_awaiting(status):
    return f"Die Meldung wartet nicht auf Freigabe (Status: {labels.status(status)})."


def _no_longer_a_draft(status):
    if status == "discarded":
        return ("Dieser Entwurf ist verworfen, zum Beispiel weil die Warnung inzwischen "
                "aktualisiert oder aufgehoben wurde. Die aktuelle Fassung steht in der Liste.")
    return f"Die Meldung ist kein Entwurf mehr (Status: {labels.status(status)})."
