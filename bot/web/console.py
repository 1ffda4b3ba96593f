"""The press office's console under ``/admin``: compose, follow and cancel broadcasts, audience.

Sending goes through ``domain.announcements.submit``, the same path as the API, so the console
can do nothing the API could not. No page here shows a phone number: counts only.
"""

import secrets

from flask import (Blueprint, current_app, flash, g, jsonify, redirect, render_template, request,
                   session, url_for)

from ..domain import announcements
from ..store import audience, broadcasts, subscribers
from ..store.db import now_iso, write
from . import charts, labels
from .auth import login_required
from .database import get_db

bp = Blueprint("console", __name__, url_prefix="/admin")

CHART_DAYS = 30
COMPOSE_FIELDS = ("text", "media_url", "send_at")
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


def _text_limit():
    return announcements.text_limit(template_mode())


def _further_languages():
    return current_app.config["LANGUAGE_LIST"][1:]


def _form_data(form):
    """The compose form as the dict the domain's validate and the API understand."""
    data = {name: form.get(name, "")[:5000].replace("\r\n", "\n") for name in COMPOSE_FIELDS}
    translations = {}
    for code in _further_languages():
        text = form.get(f"translation_{code}", "")[:5000].replace("\r\n", "\n")
        if text.strip():
            translations[code] = text
    return {"text": data["text"], "media_url": data["media_url"].strip() or None,
            "send_at": data["send_at"].strip() or None, "urgent": form.get("urgent") == "1",
            "topics": form.getlist("topics"), "translations": translations}


def _form(request_form):
    """What the compose form showed, to show it again (topics are several values)."""
    form = dict(request_form)
    form["topics"] = request_form.getlist("topics")
    return form


def _compose_page(form, error=None, status=200):
    texts = current_app.extensions["infokanal"].texts
    return render_template("console/compose.html", form=form, limit=_text_limit(),
                           template=template_mode(), error=error, topics=texts.topics,
                           languages=_further_languages(),
                           language_names=texts.language_names), status


@bp.get("/compose")
def compose():
    return _compose_page({"topics": []})


@bp.post("/compose")
def compose_post():
    data = _form_data(request.form)
    form = _form(request.form)
    if request.form.get("edit"):
        return _compose_page(form)
    if "nonce" in request.form:
        return _send(data, request.form["nonce"], form)
    try:
        fields = announcements.check(data, current_app.config)
    except announcements.InvalidBroadcast as exc:
        return _compose_error(form, exc)
    # One nonce per confirmation page: reloading or double-clicking "Senden" cannot queue the
    # same broadcast twice.
    session["compose_nonce"] = secrets.token_urlsafe(16)
    conn = get_db().conn
    texts = current_app.extensions["infokanal"].texts
    return render_template(
        "console/confirm.html", form=form, fields=fields,
        recipients=audience.count(conn, fields["urgent"], fields["topics"]),
        reading=_reading(conn, fields), language_names=texts.language_names,
        topic_names={t.slug: t.name for t in texts.topics},
        nonce=session["compose_nonce"], limit=_text_limit())


def _reading(conn, fields):
    """{language: how many get the broadcast in it}: those whose language has no translation
    get the main text."""
    main = current_app.config["MAIN_LANGUAGE"]
    counts = {}
    for code, number in audience.by_language(conn, main, fields["urgent"],
                                             fields["topics"]).items():
        shown = code if code in fields["translations"] else main
        counts[shown] = counts.get(shown, 0) + number
    return counts


def _send(data, nonce, form):
    expected = session.pop("compose_nonce", None)
    if not expected or not secrets.compare_digest(nonce, expected):
        flash("Diese Meldung wurde schon abgeschickt. Hier ist die Liste.")
        return redirect(url_for("console.index"))
    try:
        answer = announcements.submit(get_db(), data, current_app.config,
                                      created_by=f"console:{g.user}")
    except announcements.InvalidBroadcast as exc:
        return _compose_error(form, exc)
    if answer["status"] == "scheduled":
        flash(f"Meldung geplant für {answer['recipients']} Abonnentinnen und Abonnenten "
              "(Stand jetzt).")
    else:
        flash(f"Meldung wird an {answer['recipients']} Abonnentinnen und Abonnenten gesendet.")
    return redirect(url_for("console.detail", broadcast_id=answer["id"]))


def _compose_error(form, exc):
    return _compose_page(form, labels.invalid_broadcast(str(exc)), 400)


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
    failed, skipped = _reasons(broadcast)
    return render_template("console/detail.html", broadcast=broadcast, failed=failed,
                           skipped=skipped, can_cancel=broadcast["status"] in broadcasts.OPEN)


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
