"""The press office's console under ``/admin``: the broadcasts and their counts, one
broadcast's page, the audience. What changes a broadcast is in ``actions`` and ``compose``,
accounts in ``accounts``, the audit trail in ``audit_page``; all of them are views on this
blueprint.

Sending goes through ``domain.announcements``, the same path as the API, so the console can do
nothing the API could not. No page here shows a phone number: counts only. Every action checks
the account's role on the server (``roles``); pages only hide what the role may not use.
"""

from flask import (Blueprint, abort, current_app, g, jsonify, make_response, render_template,
                   request)

from .. import config, nina
from ..domain import announcements, approval, authorship, budget, costs
from ..store import audience, broadcasts, lease, media, replica, subscribers, users
from ..store.db import now_iso
from . import attachment_labels, charts, labels
from .auth import login_required
from .database import get_db
from .public import local_input, local_time

bp = Blueprint("console", __name__, url_prefix="/admin")

CHART_DAYS = 30
LIST_LENGTH = 50
# Delivery and read receipts keep coming after the last send: a finished broadcast's counts
# are still worth watching for a while.
RECEIPTS_SECONDS = 3600
# Statuses in which a broadcast has started or may start going out by itself.
STARTED = ("queued", "sending", "paused")


@bp.before_request
@login_required
def require_sign_in():
    """Every console page needs a signed-in press officer (sign-in itself lives in auth)."""


@bp.app_context_processor
def console_globals():
    texts = current_app.extensions["infokanal"].texts
    return {"labels": labels, "demo": current_app.extensions["infokanal"].demo,
            "user": g.get("user"), "role": g.get("role"),
            "topic_names": {t.slug: t.name for t in texts.topics},
            "language_names": texts.language_names,
            "identity_unset": current_app.config.get("IDENTITY_UNSET") or []}


def base_url():
    return current_app.config["PUBLIC_URL"] or request.url_root.rstrip("/")


def own_media(url):
    """The path of one of our stored pictures (for a preview), or None for any other URL."""
    name = media.is_ours(url, base_url())
    return media.PATH + name if name else None


# The console sends only pictures uploaded here: they are named by a hash of their bytes, so
# the version an approver saw is the picture that goes out. A picture at another address can
# change after approval (the API's token, a machine, may still name one).
FOREIGN_PICTURE = ("Die Bild-Adresse gehört zu keinem hier hochgeladenen Bild. Bitte laden Sie "
                   "das Bild über das Formular hoch.")


def foreign_picture(url, kept=None):
    """Whether ``url`` is a picture the console must not send: not uploaded here, and not the
    one the broadcast already has (``kept``)."""
    return bool(url) and url != kept and own_media(url) is None


# Every number a page shows is written the German way (1.600), on public pages too.
bp.add_app_template_filter(labels.number, "number")


def own_media_info(url):
    """What the preview shows of one of our stored files (``media.describe``, with its path),
    or None for any other URL."""
    name = media.is_ours(url, base_url())
    found = media.describe(get_db().conn, name) if name else None
    if found is None:
        return None
    return {**found, "path": media.PATH + name,
            "poster_path": media.PATH + found["poster"] if found["poster"] else None,
            "size_text": attachment_labels.size_text(found["size"]),
            "length_text": attachment_labels.length_text(found["seconds"]),
            "pages_text": attachment_labels.pages_text(found["pages"])}


@bp.app_context_processor
def media_helpers():
    return {"own_media": own_media, "own_media_info": own_media_info}


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
                           awaiting=[b for b in recent if b["status"] == broadcasts.AWAITING],
                           count_keys=broadcasts.COUNT_KEYS,
                           active=subscribers.count_active(conn),
                           replica_behind=replica.behind_since(conn)
                           if current_app.config.get("REPLICA_URL") else None,
                           replaced_by=lease.replaced_by(current_app.config["DATABASE_PATH"])
                           if current_app.config.get("REPLICA_URL") else None)


def _summary(broadcast):
    return {"id": broadcast["id"], "status": broadcast["status"],
            "status_label": labels.status(broadcast["status"]),
            "recipients": broadcast["recipients"], "counts": broadcast["counts"],
            "reached": broadcast["reached"]}


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
        broadcast = broadcast_or_none(broadcast_id)
        if broadcast is not None:
            found.append(_summary(broadcast))
    return jsonify(broadcasts=found)


def template_mode():
    return announcements.template_mode(current_app.config)


def text_limit():
    return announcements.text_limit(template_mode())


def broadcast_or_none(broadcast_id):
    try:
        return broadcasts.get(get_db().conn, broadcast_id)
    except broadcasts.BroadcastNotFound:
        return None


def not_found(broadcast_id):
    return render_template("error.html", title="Nicht gefunden",
                           message=f"Es gibt keine Meldung Nr. {broadcast_id}."), 404


def broadcast_or_404(broadcast_id):
    """The broadcast a console page or action is for; one that does not exist ends the
    request with the console's page saying so."""
    broadcast = broadcast_or_none(broadcast_id)
    if broadcast is None:
        abort(make_response(not_found(broadcast_id)))
    return broadcast


def _reasons(broadcast):
    failed = labels.grouped_failures(broadcast["failures"])
    skipped = labels.grouped_skips(broadcasts.skip_reasons(get_db().conn, broadcast["id"]))
    return failed, skipped


@bp.get("/broadcasts/<int:broadcast_id>")
def detail(broadcast_id):
    return detail_page(broadcast_or_404(broadcast_id))


def can_cancel(broadcast):
    return broadcast["status"] in broadcasts.OPEN


def cancel_word(broadcast):
    """A planned broadcast that has not started is called off ("absagen"); one that is going
    out is stopped ("abbrechen")."""
    return "absagen" if broadcast["status"] == "scheduled" else "abbrechen"


def detail_page(broadcast, form=None, error=None, status=200, notice=None):
    failed, skipped = _reasons(broadcast)
    source = broadcast["source"]
    page_url = nina.PAGE_URL.format(id=source["id"]) if source else None
    settings = current_app.config
    conn = get_db().conn
    estimate_for = costs.messages_for(conn, broadcast)
    asked_by = broadcast["requested_by"]
    awaiting = broadcast["status"] == broadcasts.AWAITING
    # Judged afresh, as approving it would judge it: the mark is what the month said when it
    # was asked for, and the month (or the budget) may have moved since.
    budget_hold = awaiting and budget.needs_admin(
        budget.verdict(conn, settings, broadcast["urgent"], broadcast["topics"],
                       send_at=broadcast["send_at"]),
        broadcast["urgent"], broadcast["created_by"], admin=False)
    return render_template(
        "console/detail.html", broadcast=broadcast, failed=failed, skipped=skipped,
        can_cancel=can_cancel(broadcast), cancel_word=cancel_word(broadcast), page_url=page_url,
        form=form or _form_of(broadcast), error=error, notice=notice, limit=text_limit(),
        template=template_mode(), reaches=estimate_for,
        waits_for_approval=approval.must_wait(settings, g.role, broadcast["urgent"]),
        may_approve=(awaiting
                     and (asked_by != g.user
                          or settings["APPROVAL_REQUIRED"] == config.APPROVAL_OFF)
                     and (not budget_hold or users.at_least(g.role, users.ADMIN))),
        budget_hold=budget_hold,
        test_recipients=len(settings["TEST_RECIPIENT_LIST"]),
        cost=labels.cost_line(costs.estimate(estimate_for, settings), estimate_for),
        may_edit=authorship.may_change(broadcast["created_by"], g.user,
                                       users.at_least(g.role, users.PUBLISHER)),
        author=labels.audit_actor(authorship.author(broadcast["created_by"])),
        relayed=authorship.relayed(broadcast["created_by"]),
        version=(approval.version(broadcast) if broadcast["status"] == broadcasts.AWAITING
                 else None),
        in_archive=broadcast["public"] and broadcast["status"] not in (
            *broadcasts.HELD, broadcasts.DISCARDED, "scheduled")), status


def _form_of(broadcast):
    return {"text": broadcast["text"], "urgent": "1" if broadcast["urgent"] else "",
            "media_url": broadcast["media_url"] or "",
            # Held at its time for a text too long: the time has passed; empty sends it once
            # shortened.
            "send_at": ("" if labels.held_too_long(broadcast)
                        else local_input(broadcast["send_at"])),
            "expires_at": local_input(broadcast["expires_at"])}


@bp.get("/broadcasts/<int:broadcast_id>/counts.json")
def counts(broadcast_id):
    """What the detail page's script polls while a broadcast goes out."""
    broadcast = broadcast_or_none(broadcast_id)
    if broadcast is None:
        return jsonify(error="not found"), 404
    failed, skipped = _reasons(broadcast)
    return jsonify(
        status=broadcast["status"], status_label=labels.status(broadcast["status"]),
        counts=broadcast["counts"], reached=broadcast["reached"],
        recipients=broadcast["recipients"],
        can_cancel=can_cancel(broadcast),
        finished=local_time(broadcast["finished_at"]) if broadcast["finished_at"] else None,
        failed=[{"reason": label, "count": n} for label, n, _ in failed],
        skipped=[{"reason": label, "count": n} for label, n, _ in skipped],
        poll=broadcast["poll"])


@bp.get("/audience")
def audience_page():
    conn = get_db().conn
    rows = audience.daily(conn, CHART_DAYS, current_app.config["TIMEZONE"])
    texts = current_app.extensions["infokanal"].texts
    messages, estimate = costs.month_so_far(conn, current_app.config)
    return render_template("console/audience.html", active=subscribers.count_active(conn),
                           rows=rows, chart=charts.chart(rows), days=CHART_DAYS,
                           total_sub=sum(r[1] for r in rows),
                           total_unsub=sum(r[2] for r in rows), topics=texts.topics,
                           per_topic=audience.by_topic(conn, [t.slug for t in texts.topics]),
                           per_language=audience.by_language(conn, texts.main),
                           language_names=texts.language_names,
                           month_messages=messages,
                           month_cost=labels.cost_line(estimate, messages))
