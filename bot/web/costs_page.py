"""``/admin/costs``: the month in numbers for publishers and admins (a view on the console's
blueprint): broadcasts, messages delivered by category, answers to citizens, estimated cost,
against the budget, for a month chosen. Counts only (``domain.month_report``). Editors do not
see it: what the county spends is for those who decide to send. Also the console's words for
a broadcast the budget holds back."""

from flask import current_app, render_template, request

from ..domain import month_report
from ..store import users
from . import roles
from .console import bp
from .database import get_db


# What a publisher reads when the budget made their broadcast wait (compose, a draft's page).
BUDGET_HOLD = ("Die Meldung würde das Monatsbudget überschreiten. Sie wartet jetzt auf Freigabe "
               "durch eine Person mit der Rolle „Administration“ und wird erst danach gesendet.")

# The template categories as Meta names them in its price list, and the answers.
CATEGORY_NAMES = {"marketing": "Marketing", "utility": "Service-Info (Utility)",
                  "service": "Antworten an Bürgerinnen und Bürger (Service)"}


@bp.get("/costs")
@roles.requires(users.PUBLISHER)
def costs_page():
    settings = current_app.config
    current = month_report.this_month(settings)
    error = None
    try:
        month = month_report.parse_month(request.args["month"]) if request.args.get(
            "month") else current
    except month_report.InvalidMonth:
        error = "Bitte wählen Sie einen Monat im Format JJJJ-MM, zum Beispiel 2026-12."
        month = current
    found = month_report.report(get_db().conn, settings, month)
    return render_template("console/costs.html", report=found, error=error,
                           categories=tuple(CATEGORY_NAMES), category_names=CATEGORY_NAMES), (
                               400 if error else 200)
