"""The press office's console under ``/admin``: compose, follow and cancel broadcasts, edit and
send or discard the drafts of relayed official warnings, audience.

Sending goes through ``domain.announcements``, the same path as the API, so the console can do
nothing the API could not. No page here shows a phone number: counts only.
"""


from flask import (Blueprint, current_app, flash, g, jsonify, redirect, render_template, request,
                   url_for)

from .. import nina
from ..domain import announcements
from ..store import audience, broadcasts, subscribers
from ..store.db import now_iso, write
from . import charts, labels
from .auth import login_required
from .database import get_db

bp = Blueprint("console", __name__, url_prefix="/admin")

CHART_DAYS = 30
LIST_LENGTH = 50
# Delivery and read receipts keep coming after the last send: a finished broadcast's counts
# are still worth watching for a while.
RECEIPTS_SECONDS = 3600


@bp.before_request
@login_required
def require_sign_in():
    """Every console page needs a signed-in press officer (sign-in itself lives in auth)."""


@bp.app_context_processor
def console_globals():
    texts = current_app.extensions["infokanal"].texts
    return {"labels": labels, "demo": current_app.extensions["infokanal"].demo,
            "user": g.get("user"), "topic_names": {t.slug: t.name for t in texts.topics},
            "language_names": texts.language_names}


@bp.get("/")
@bp.get("")
def index():
    conn = get_db().conn
    recent = broadcasts.list_recent(conn, limit=LIST_LENGTH)
    receipts_since = now_iso(-RECEIPTS_SECONDS)
    live = {b["id"] for b in recent if b["status"] in broadcasts.OPEN
            or (b["finished_at"] or "") > receipts_since}
    return render_template("console/index.html", broadcasts=recent, live=live,
                           drafts=[b for b in recent if b["status"] == broadcasts.DRAFT],
                           count_keys=broadcasts.COUNT_KEYS,
                           active=subscribers.count_active(conn))


def _summary(broadcast):
    return {"id": broadcast["id"], "status": broadcast["status"],
            "status_label": labels.status(broadcast["status"]),
            "recipients": broadcast["recipients"], "counts": broadcast["counts"]}


@bp.get("/counts.json")
def list_counts():
    """What the list page's script polls: status and counts of the broadcasts it names
    (``?ids=3,2,1``), only those, so that finished ones are not counted again every second."""
    parts = [part.strip() for part in request.args.get("ids", "").split(",") if part.strip()]
    if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in parts):
        return jsonify(error="ids must be broadcast numbers separated by commas"), 400
    ids = [int(part) for part in parts]
    if len(ids) > LIST_LENGTH:
        return jsonify(error=f"at most {LIST_LENGTH} ids at a time"), 400
    found = []
    for broadcast_id in dict.fromkeys(ids):
        broadcast = _broadcast_or_404(broadcast_id)
        if broadcast is not None:
            found.append(_summary(broadcast))
    return jsonify(broadcasts=found)


def template_mode():
    return announcements.template_mode(current_app.config)


def text_limit():
    return announcements.text_limit(template_mode())


def _broadcast_or_404(broadcast_id):
    try:
        return broadcasts.get(get_db().conn, broadcast_id)
    except broadcasts.BroadcastNotFound:
        return None


def _reasons(broadcast):
    failed = labels.grouped_failures(broadcast["failures"])
    skipped = labels.grouped_skips(broadcasts.skip_reasons(get_db().conn, broadcast["id"]))
    return failed, skipped


@bp.get("/broadcasts/<int:broadcast_id>")
def detail(broadcast_id):
    broadcast = _broadcast_or_404(broadcast_id)
    if broadcast is None:
        return render_template("error.html", title="Nicht gefunden",
                               message=f"Es gibt keine Meldung Nr. {broadcast_id}."), 404
    return _detail_page(broadcast)


def _detail_page(broadcast, form=None, error=None, status=200):
    failed, skipped = _reasons(broadcast)
    source = broadcast["source"]
    page_url = nina.PAGE_URL.format(id=source["id"]) if source else None
    return render_template(
        "console/detail.html", broadcast=broadcast, failed=failed, skipped=skipped,
        can_cancel=broadcast["status"] in broadcasts.OPEN, page_url=page_url,
        form=form or {"text": broadcast["text"], "urgent": "1" if broadcast["urgent"] else ""},
        error=error, limit=text_limit(), template=template_mode(),
        active=subscribers.count_active(get_db().conn)), status


@bp.get("/broadcasts/<int:broadcast_id>/counts.json")
def counts(broadcast_id):
    """What the detail page's script polls while a broadcast goes out."""
    broadcast = _broadcast_or_404(broadcast_id)
    if broadcast is None:
        return jsonify(error="not found"), 404
    failed, skipped = _reasons(broadcast)
    return jsonify(
        status=broadcast["status"], status_label=labels.status(broadcast["status"]),
        counts=broadcast["counts"], recipients=broadcast["recipients"],
        failed=[{"reason": label, "count": n} for label, n, _ in failed],
        skipped=[{"reason": label, "count": n} for label, n, _ in skipped])


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
def cancel(broadcast_id):
    try:
        with write(get_db()) as conn:
            broadcasts.cancel(conn, broadcast_id)
    except broadcasts.BroadcastNotFound:
        return render_template("error.html", title="Nicht gefunden",
                               message=f"Es gibt keine Meldung Nr. {broadcast_id}."), 404
    except broadcasts.BroadcastClosed as exc:
        flash(f"Die Meldung ist bereits {labels.status(str(exc))} und kann nicht mehr "
              "abgebrochen werden.")
    else:
        flash("Die Meldung wurde abgebrochen. Was schon unterwegs war, kommt noch an.")
    return redirect(url_for("console.detail", broadcast_id=broadcast_id))


@bp.post("/broadcasts/<int:broadcast_id>/draft")
def draft(broadcast_id):
    """Save a draft's text (and urgency) as the form shows it, and send it if asked: what is in
    the box is what goes out, never an older saved text."""
    form = {"text": request.form.get("text", "")[:5000].replace("\r\n", "\n"),
            "urgent": "1" if request.form.get("urgent") == "1" else ""}
    data = {"text": form["text"], "urgent": form["urgent"] == "1"}
    try:
        announcements.edit_draft(get_db(), broadcast_id, data, current_app.config)
        if request.form.get("action") == "send":
            recipients = announcements.send_draft(get_db(), broadcast_id, current_app.config)
            flash(f"Meldung wird an {recipients} Abonnentinnen und Abonnenten gesendet.")
        else:
            flash("Entwurf gespeichert. Er wird erst gesendet, wenn Sie auf „Senden“ klicken.")
    except broadcasts.BroadcastNotFound:
        return _not_found(broadcast_id)
    except broadcasts.NotADraft as exc:
        flash(_no_longer_a_draft(str(exc)))
    except announcements.InvalidBroadcast as exc:
        return _detail_page(broadcasts.get(get_db().conn, broadcast_id), form=form,
                            error=labels.invalid_broadcast(str(exc)), status=400)
    return redirect(url_for("console.detail", broadcast_id=broadcast_id))


@bp.post("/broadcasts/<int:broadcast_id>/discard")
def discard(broadcast_id):
    try:
        announcements.discard_draft(get_db(), broadcast_id)
    except broadcasts.BroadcastNotFound:
        return _not_found(broadcast_id)
    except broadcasts.NotADraft as exc:
        flash(_no_longer_a_draft(str(exc)))
    else:
        flash("Der Entwurf wurde verworfen und wird nicht gesendet.")
    return redirect(url_for("console.detail", broadcast_id=broadcast_id))


def _no_longer_a_draft(status):
    if status == "discarded":
        return ("Dieser Entwurf ist verworfen, zum Beispiel weil die Warnung inzwischen "
                "aktualisiert oder aufgehoben wurde. Die aktuelle Fassung steht in der Liste.")
    return f"Die Meldung ist kein Entwurf mehr (Status: {labels.status(status)})."


def _not_found(broadcast_id):
    return render_template("error.html", title="Nicht gefunden",
                           message=f"Es gibt keine Meldung Nr. {broadcast_id}."), 404


@bp.get("/audience")
def audience_page():
    conn = get_db().conn
    rows = audience.daily(conn, CHART_DAYS, current_app.config["TIMEZONE"])
    texts = current_app.extensions["infokanal"].texts
    return render_template("console/audience.html", active=subscribers.count_active(conn),
                           rows=rows, chart=charts.chart(rows), days=CHART_DAYS,
                           total_sub=sum(r[1] for r in rows),
                           total_unsub=sum(r[2] for r in rows), topics=texts.topics,
                           per_topic=audience.by_topic(conn, [t.slug for t in texts.topics]),
                           per_language=audience.by_language(conn, texts.main),
                           language_names=texts.language_names)
