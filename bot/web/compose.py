"""Composing a broadcast in the console: the form (text, picture, times, topics, languages), the
confirmation that shows its plan (whom it reaches, when the last message goes out, how many
WhatsApp lets us reach today, what it costs against the month's budget) and that it will be
public, and then,
as the account's role and ``APPROVAL_REQUIRED`` allow: send it, ask for approval, save it as a
draft, or send a test to the staff phones (the views live on the console's blueprint).
"""

import secrets
from decimal import Decimal

from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from .. import images, uploads
from ..domain import announcements, approval, budget
from ..domain import plan as plans
from ..store import broadcasts, users
from . import costs_page, labels, plan_labels, poll_page, roles, trial
from .attachment_labels import upload_error
from .console import FOREIGN_PICTURE, bp, foreign_picture, template_mode, text_limit
from .database import get_db
from .media import InvalidUpload, store_upload

COMPOSE_FIELDS = ("text", "media_url", "send_at", "expires_at")
# What the confirmation's buttons do; "send" also where none was named (an older page).
ACTIONS = ("send", "request", "draft", "test", "edit")


def _further_languages():
    return current_app.config["LANGUAGE_LIST"][1:]


def _form_data(form):
    """The compose form (as ``_form`` made it) as the dict the domain's validate and the API
    understand."""
    data = {name: form.get(name, "")[:5000].replace("\r\n", "\n") for name in COMPOSE_FIELDS}
    translations = {}
    for code in _further_languages():
        text = form.get(f"translation_{code}", "")[:5000].replace("\r\n", "\n")
        if text.strip():
            translations[code] = text
    return {"text": data["text"], "media_url": data["media_url"].strip() or None,
            "send_at": data["send_at"].strip() or None,
            "expires_at": data["expires_at"].strip() or None,
            "urgent": form.get("urgent") == "1", "public": form.get("public") == "1",
            "topics": list(form.get("topics", [])), "translations": translations,
            "answers": poll_page.answers_of(form)}


def _form(request_form):
    """What the compose form showed, to show it again (topics are several values). A form that
    carries no public checkbox (``public_shown``) keeps a broadcast public, as the API does."""
    form = dict(request_form)
    form["topics"] = request_form.getlist("topics")
    if "public_shown" not in request_form:
        form["public"] = "1"
    return form


def _compose_page(form, error=None, status=200):
    texts = current_app.extensions["infokanal"].texts
    return render_template("console/compose.html", form=form, limit=text_limit(),
                           template=template_mode(), error=error, topics=texts.topics,
                           media_allowed=announcements.media_allowed(current_app.config),
                           paragraphs_kept=bool(current_app.config["PARAGRAPH_SIDS"].get(None)
                                                or current_app.config["META_PARAGRAPH_NAMES"]
                                                .get(None)),
                           media_kinds=announcements.media_kinds(current_app.config),
                           languages=_further_languages(),
                           language_names=texts.language_names,
                           max_image_mb=images.MAX_BYTES // (1024 * 1024),
                           max_file_mb=uploads.MAX_BYTES // (1024 * 1024)), status


@bp.get("/compose")
def compose():
    return _compose_page({"topics": [], "public": "1"})


@bp.post("/compose")
def compose_post():
    form = _form(request.form)
    action = request.form.get("action") or ("send" if "nonce" in request.form else None)
    if action not in ACTIONS:
        action = None  # the first step: check it and show the confirmation
    if action == "edit":
        return _compose_page(form)
    upload = request.files.get("image")
    if upload is not None and upload.filename:
        try:
            form["media_url"] = store_upload(upload)
        except InvalidUpload as exc:
            return _compose_error(form, upload_error(str(exc), exc.kind))
    if request.form.get("remove_image") == "1":
        form["media_url"] = ""
    data = _form_data(form)
    if foreign_picture(data["media_url"]):
        # What is wrong with it otherwise is said first (an address that cannot be one).
        try:
            announcements.check(data, current_app.config)
        except announcements.InvalidBroadcast as exc:
            return _compose_error(form, labels.invalid_broadcast(str(exc)))
        form["media_url"] = ""
        return _compose_error(form, FOREIGN_PICTURE)
    if action in ("send", "request", "draft"):
        return _create(data, action, request.form.get("nonce", ""), form)
    try:
        fields = announcements.check(data, current_app.config)
    except announcements.InvalidBroadcast as exc:
        return _compose_error(form, labels.invalid_broadcast(str(exc)))
    if action == "test":
        return _confirm_page(form, fields, notice=trial.send(fields),
                             nonce=session.get("compose_nonce"))
    # One nonce per confirmation page: reloading or double-clicking "Senden" cannot queue the
    # same broadcast twice.
    session["compose_nonce"] = secrets.token_urlsafe(16)
    return _confirm_page(form, fields, nonce=session["compose_nonce"])


def _confirm_page(form, fields, nonce, notice=None):
    settings = current_app.config
    conn = get_db().conn
    plan = plans.of(conn, settings, fields)
    total = plan["cost"]["total"]
    found = budget.verdict(conn, settings, fields["urgent"], fields["topics"],
                           cost=None if total is None else Decimal(str(total)),
                           month=plan["month"])
    budget_hold = budget.needs_admin(found, fields["urgent"], f"console:{g.user}",
                                     users.at_least(g.role, users.ADMIN))
    return render_template(
        "console/confirm.html", form=form, fields=fields, plan=plan, plan_labels=plan_labels,
        reading=_reading(plan["by_language"], fields), nonce=nonce, limit=text_limit(),
        notice=notice,
        waits=budget_hold or approval.must_wait(settings, g.role, fields["urgent"]),
        budget=found, budget_hold=budget_hold, budget_exempt=budget.exempt(fields["urgent"], None),
        may_send=roles.may(users.PUBLISHER),
        test_recipients=len(settings["TEST_RECIPIENT_LIST"]))


def _reading(by_language, fields):
    """{language: how many read the broadcast in it}: those whose language has no translation
    get the main text."""
    main = current_app.config["MAIN_LANGUAGE"]
    counts = {}
    for code, number in by_language.items():
        shown = code if code in fields["translations"] else main
        counts[shown] = counts.get(shown, 0) + number
    return counts


def _create(data, action, nonce, form):
    if action == "send" and not roles.may(users.PUBLISHER):
        return roles.refused(users.PUBLISHER)
    expected = session.pop("compose_nonce", None)
    if not expected or not secrets.compare_digest(nonce, expected):
        flash("Diese Meldung wurde schon abgeschickt. Hier ist die Liste.")
        return redirect(url_for("console.index"))
    if action == "send" and approval.must_wait(current_app.config, g.role, data["urgent"]):
        action = "request"
    hold = {"send": None, "request": broadcasts.AWAITING, "draft": broadcasts.DRAFT}[action]
    try:
        answer = announcements.submit(get_db(), data, current_app.config,
                                      created_by=f"console:{g.user}", hold=hold,
                                      admin=users.at_least(g.role, users.ADMIN))
    except announcements.InvalidBroadcast as exc:
        return _compose_error(form, labels.invalid_broadcast(str(exc)))
    if answer["status"] == broadcasts.AWAITING and answer["over_budget"]:
        flash(costs_page.BUDGET_HOLD)
    elif answer["status"] == broadcasts.AWAITING:
        flash("Die Meldung wartet jetzt auf Freigabe durch eine zweite Person mit der Rolle "
              "„Veröffentlichen“. Sie wird erst nach der Freigabe gesendet.")
    elif answer["status"] == broadcasts.DRAFT:
        flash("Als Entwurf gespeichert. Er wird erst gesendet, wenn jemand ihn sendet.")
    elif answer["status"] == "scheduled":
        flash(f"Meldung geplant für {labels.subscribers(answer['recipients'])} (Stand jetzt).")
    else:
        flash(f"Meldung wird an {labels.subscribers(answer['recipients'])} gesendet.")
    return redirect(url_for("console.detail", broadcast_id=answer["id"]))


def _compose_error(form, message):
    return _compose_page(form, message, 400)
