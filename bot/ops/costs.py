"""``scripts/flask costs report --month YYYY-MM [--csv]``: the month in numbers for the
county's accounts (``domain.month_report``): one row per broadcast, one for the answers to
citizens, one for the total. Counts only, no phone number.
"""

import csv
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from ..domain import month_report
from . import database

costs_cli = AppGroup("costs", help="What the month's messages cost (estimated), for the "
                                   "accounts.")


@costs_cli.command("report")
@click.option("--month", default=None, metavar="YYYY-MM",
              help="The calendar month (TIMEZONE); default: this one.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV for a spreadsheet instead of a table.")
def report_command(month, as_csv):
    """Print the month: broadcasts, messages delivered by category, answers, estimated cost,
    against MONTHLY_BUDGET."""
    settings = current_app.config
    try:
        chosen = (month_report.parse_month(month) if month is not None
                  else month_report.this_month(settings))
    except month_report.InvalidMonth as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    with database() as db:
        found = month_report.report(db.conn, settings, chosen)
    rows = month_report.csv_rows(found)
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(month_report.CSV_HEADER)
        writer.writerows(rows)
        return
    click.echo(f"Month {found['month']} (estimated, {found['currency']})")
    widths = [max(len(str(value)) for value in column)
              for column in zip(month_report.CSV_HEADER, *rows)]
    for line in [month_report.CSV_HEADER, *rows]:
        click.echo("  ".join(str(value).ljust(width) for value, width in zip(line, widths))
                   .rstrip())
    if found["unpriced"]:
        click.echo(f"{found['unpriced']} messages are of a category without a price "
                   "(PRICE_MARKETING, PRICE_UTILITY, PRICE_PER_MESSAGE) and count 0.")
    if found["budget"] is not None:
        click.echo(f"Budget {found['budget']:.2f} {found['currency']}, remaining "
                   f"{found['remaining']:.2f} {found['currency']} (MONTHLY_BUDGET).")


def init_app(app):
    app.cli.add_command(costs_cli)
