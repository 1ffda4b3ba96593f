"""Composing a broadcast in the console: the form, the confirmation that says who will get
it, and sending it (the views live on the console's blueprint)."""

import secrets

from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from ..domain import announcements
from ..store import audience
from . import labels
from .console import bp, template_mode, text_limit
from .database import get_db

COMPOSE_FIELDS = ("text", "media_url", "send_at")


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
    return render_template("console/compose.html", form=form, limit=text_limit(),
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
        nonce=session["compose_nonce"], limit=text_limit())


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
