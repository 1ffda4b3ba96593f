"""``flask --app wsgi audit verify|export``: the audit trail, checked and read out.

``verify`` walks the whole chain and exits non-zero naming the first entry that does not match
(changed, removed, or out of order); its result is kept for the console's audit page. ``export``
prints the entries as JSON lines, oldest first. Both first write the entries of failed sign-in
windows that have ended, so that what they read is complete.
"""

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup

from ..store import audit, failed_signins
from ..store.db import to_iso, write
from . import database

audit_cli = AppGroup("audit", help="Check and export the audit trail (who did what).")


def record(action, target=None, details=None):
    """An operator command's entry in the audit trail (actor ``cli``)."""
    with database() as db, write(db) as conn:
        audit.record(conn, audit.CLI, action, target, details)


@audit_cli.command("verify")
def verify_command():
    """Check every entry's hash and its link to the one before; exit 1 at the first mismatch."""
    with database() as db:
        _close_ended_windows(db)
        result = audit.verify_all(db)
    if result.pruned:
        click.echo(f"The {result.pruned['entries']} oldest entries (until "
                   f"{result.pruned['until']}) were removed by the retention cleanup "
                   "(RETENTION_AUDIT_YEARS); the chain begins at the last of them.")
    if not result.ok:
        raise click.ClickException(
            f"entry {result.bad_id} {result.reason}; the {result.checked} entries before it "
            "verify.")
    click.echo(f"{result.checked} entries verified. Latest hash: {result.latest_hash} "
               "(note it elsewhere to notice later whether the trail was rewritten).")


def _close_ended_windows(db):
    while True:
        with write(db) as conn:
            if failed_signins.close_due(conn) == 0:
                return


def _since(value):
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter("give an ISO-8601 date or time, e.g. 2026-11-01 or "
                                 "2026-11-24T08:00", param_hint="--since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))
    return to_iso(moment.astimezone(timezone.utc))


@audit_cli.command("export")
@click.option("--since", default=None,
              help="Only entries from this date or time on (ISO-8601; without a zone: "
                   "TIMEZONE).")
def export_command(since):
    """Print the entries as JSON lines, oldest first: at, actor, action, target, details (and
    id, prev_hash, hash, to verify a copy)."""
    cutoff = _since(since)
    with database() as db:
        _close_ended_windows(db)
        for entry in audit.oldest_first(db.conn, cutoff):
            click.echo(json.dumps({key: entry[key] for key in (
                "id", "at", "actor", "action", "target", "details", "prev_hash", "hash")},
                ensure_ascii=False))


def init_app(app):
    app.cli.add_command(audit_cli)
