"""``/admin/audit``: the audit trail for admins, newest first, a page at a time, and whether
its chain still verifies (a view on the console's blueprint)."""

from flask import render_template, request

from ..store import audit, users
from . import roles
from .console import bp
from .database import get_db

PAGE = 50


@bp.get("/audit")
@roles.requires(users.ADMIN)
def audit_page():
    before = request.args.get("vor", type=int)
    if before is not None and not 0 < before < 2 ** 62:
        before = None
    conn = get_db().conn
    entries = audit.newest(conn, PAGE, before)
    return render_template("console/audit.html", entries=entries,
                           verification=audit.verify(conn),
                           older=entries[-1]["id"] if len(entries) == PAGE else None)
