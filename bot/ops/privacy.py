"""``flask --app wsgi privacy export|erase NUMBER``: a citizen's rights (DSGVO Art. 15, 17)."""

import json

import click
from flask import current_app
from flask.cli import AppGroup

from ..phone import InvalidAddress, e164_from_input
from ..store.privacy import KEPT_REASON, erase, export
from . import database
from .audit import record


def _number(words):
    """The number as typed, possibly in several words (``0151 1234567``), as E.164."""
    try:
        return e164_from_input(" ".join(words))
    except InvalidAddress as exc:
        raise click.BadParameter(
            f"{exc}. Give the number as +49 151 …, 0049 151 … or 0151 … (German numbers).",
            param_hint="NUMBER") from None


@click.group("privacy", cls=AppGroup)
def privacy_group():
    """A citizen's rights for one phone number: export (Art. 15), erase (Art. 17 DSGVO)."""


@privacy_group.command("export")
@click.argument("number", nargs=-1, required=True)
def export_command(number):
    """Print everything stored about NUMBER as JSON."""
    e164 = _number(number)
    with database() as db:
        data = export(db.conn, current_app.extensions["infokanal"].vault, e164)
    # Which number it was is not for the audit trail (nor its hash): that an export was made is.
    record("privacy_export")
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@privacy_group.command("erase")
@click.argument("number", nargs=-1, required=True)
def erase_command(number):
    """Erase everything stored about NUMBER, except the consent proof (and say why)."""
    e164 = _number(number)
    with database() as db:
        report = erase(db.conn, current_app.extensions["infokanal"].vault, e164)
    # Counts only: nothing in the trail leads back to the number that was erased.
    record("privacy_erase", details={
        "was_subscribed": report.was_subscribed, "deliveries_unlinked": report.deliveries_unlinked,
        "notice_records_removed": report.notice_throttle_removed,
        "outbox_removed": report.outbox_removed,
        "consent_records_kept": report.consent_records_kept})
    if report.was_subscribed:
        click.echo("Unsubscribed and removed the encrypted number; no further broadcast will "
                   "reach it.")
    else:
        click.echo("The number was not subscribed; nothing encrypted was stored for it.")
    click.echo(f"Removed: {report.deliveries_unlinked} delivery links and their message ids "
               f"at Twilio (the broadcast counts stay, without the link), "
               f"{report.notice_throttle_removed} auto-notice records, "
               f"{report.outbox_removed} demo outbox messages.")
    years = current_app.config["RETENTION_CONSENT_YEARS"]
    click.echo(f"Kept: {report.consent_records_kept} consent records. "
               + KEPT_REASON.format(years=years))
    click.echo("Not in this database: Twilio's own message logs; erase there separately if "
               "the citizen asks (see README, Datenschutz).")


def init_app(app):
    app.cli.add_command(privacy_group)
