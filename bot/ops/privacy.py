"""``flask --app wsgi privacy export|erase NUMBER``: a citizen's rights (DSGVO Art. 15, 17)."""

import json

import click
from flask import current_app
from flask.cli import AppGroup

from .. import platforms
from ..phone import InvalidAddress, e164_from_input
from ..store import replica
from ..store.privacy import KEPT_REASON, erase, export
from . import database, refuse_when_replaced
from .access_report import german_report
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
@click.option("--format", "output", type=click.Choice(["json", "text"]), default="json",
              show_default=True,
              help="json: every field, for machines and the records; text: a German letter "
                   "for the citizen (Auskunft nach Art. 15 DSGVO).")
def export_command(number, output):
    """Print everything stored about NUMBER: as JSON, or as a German letter (--format text).

    When nothing at all is stored under the number, the command says so on stderr (check the
    number for a typing error) and still exits 0: "nothing stored" is a complete answer.
    """
    e164 = _number(number)
    services = current_app.extensions["infokanal"]
    with database() as db:
        data = export(db.conn, services.vault, e164)
    # Which number it was is not for the audit trail (nor its hash): that an export was made is.
    record("privacy_export")
    if output == "json":
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(_letter(data, services.texts), nl=False)
    if data["nothing_stored"]:
        click.echo(f"Nothing is stored about {e164} (Zu dieser Nummer ist nichts gespeichert). "
                   "Check the number for a typing error before answering the citizen.",
                   err=True)


def _letter(data, texts):
    config = current_app.config
    return german_report(
        data, authority=config["AUTHORITY_NAME"],
        contact=config["CONTACT_INFO"], dpo=config["DATA_PROTECTION_OFFICER"],
        timezone=config["TIMEZONE"], service=config["WHATSAPP_PLATFORM"],
        topic_names={topic.slug: topic.name for topic in texts.topics},
        language_names=texts.language_names, main_language=texts.main,
        keep={"delivery_days": config["RETENTION_DELIVERY_DAYS"],
              "consent_years": config["RETENTION_CONSENT_YEARS"],
              "notice_hours": config["NOTICE_WINDOW_HOURS"],
              "backup_days": config["BACKUP_KEEP_DAYS"]})


@privacy_group.command("erase")
@click.argument("number", nargs=-1, required=True)
def erase_command(number):
    """Erase everything stored about NUMBER, except the consent proof (and say why)."""
    refuse_when_replaced()
    e164 = _number(number)
    with database() as db:
        report = erase(db.conn, current_app.extensions["infokanal"].vault, e164)
        if not replica.confirm(db, current_app.config):
            click.echo("The replica did not confirm the erasure in time; it follows once the "
                       "replica store answers (scripts/flask replica status).", err=True)
    # Counts only: nothing in the trail leads back to the number that was erased.
    record("privacy_erase", details={
        "was_subscribed": report.was_subscribed, "deliveries_unlinked": report.deliveries_unlinked,
        "notice_records_removed": report.notice_throttle_removed,
        "outbox_removed": report.outbox_removed,
        "replies_removed": report.replies_removed,
        "reactions_unlinked": report.reactions_unlinked,
        "poll_votes_anonymised": report.poll_votes_anonymised,
        "consent_records_kept": report.consent_records_kept})
    if report.was_subscribed:
        click.echo("Unsubscribed and removed the encrypted number; no further broadcast will "
                   "reach it.")
    else:
        click.echo("The number was not subscribed; nothing encrypted was stored for it.")
    service = platforms.display_name(current_app.config["WHATSAPP_PLATFORM"])
    click.echo(f"Removed: {report.deliveries_unlinked} delivery links and their message ids "
               f"at {service} (the broadcast counts stay, without the link), "
               f"{report.notice_throttle_removed} auto-notice records, "
               f"{report.replies_removed} answers not sent yet, "
               f"{report.outbox_removed} demo outbox messages; "
               f"{report.reactions_unlinked} emoji reactions and "
               f"{report.poll_votes_anonymised} poll votes are no longer linked to the number "
               "(they still count).")
    years = current_app.config["RETENTION_CONSENT_YEARS"]
    click.echo(f"Kept: {report.consent_records_kept} consent records. "
               + KEPT_REASON.format(years=years))
    click.echo(f"Not in this database: {service}'s own message logs; erase there separately "
               "if the citizen asks (see docs/datenschutz).")


def init_app(app):
    app.cli.add_command(privacy_group)
