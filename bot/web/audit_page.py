"""``/admin/audit``: the audit trail for admins, newest first, a page at a time, and whether
its chain still verifies (a view on the console's blueprint).

A page load checks only the entries added since the last check (the checkpoint in
``store.audit``), for at most ``VERIFY_SECONDS``, so that it stays fast however long the
trail is; the full check runs on the button here, with ``audit verify`` and daily in the
worker, and the page says when it last ran and what it found. Each entry's details read as
German phrases (``audit_details``); on a phone each entry is a card (site.css, ``stack``)."""

from flask import flash, redirect, render_template, request, url_for

from ..store import audit, failed_signins, users
from ..store.db import write
from . import audit_details, roles
from .console import bp
from .database import get_db

PAGE = 50
# A load checks for about this long (some 10,000 to 30,000 entries on the shared development
# machine): a trail that grew by more since the last look (the first look at a long trail, a
# restored backup) is checked over the next loads, or at once with the button.
VERIFY_SECONDS = 0.25


@bp.get("/audit")
@roles.requires(users.ADMIN)
def audit_page():
    before = request.args.get("vor", type=int)
    if before is not None and not 0 < before < 2 ** 62:
        before = None
    database = get_db()
    with write(database) as conn:
        failed_signins.close_due(conn)
    verification = audit.verify_new(database, seconds=VERIFY_SECONDS)
    conn = database.conn
    entries = audit.newest(conn, PAGE, before)
    return render_template("console/audit.html", entries=entries, verification=verification,
                           full_check=audit.last_full_check(conn),
                           open_windows=failed_signins.open_windows(conn),
                           facts=audit_details.facts,
                           older=entries[-1]["id"] if len(entries) == PAGE else None)


@bp.post("/audit/verify")
@roles.requires(users.ADMIN)
def audit_verify():
    result = audit.verify_all(get_db())
    if result.ok:
        flash(f"Vollständige Prüfung: die Kette ist unversehrt ({result.checked} Einträge).")
    else:
        flash(f"Vollständige Prüfung: Eintrag Nr. {result.bad_id} passt nicht zur Kette.")
    return redirect(url_for("console.audit_page"))
