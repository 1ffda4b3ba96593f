"""A citizen's rights as operator commands: access (DSGVO Art. 15) and erasure (Art. 17).

``flask --app wsgi privacy export NUMBER`` prints everything held about a number as JSON;
``privacy erase NUMBER`` removes it, except the consent records: they prove that every message
went to someone who had asked for it and that a withdrawal was honoured (Art. 7(1), 5(2)), and
they hold only the keyed hash, never the number. The daily cleanup deletes them after
``RETENTION_CONSENT_YEARS``.
"""

import json
from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import AppGroup

from . import retention, subscribers
from .db import connect, now_iso, write
from .phone import InvalidAddress, e164_from_input

KEPT_REASON = (
    "Consent and withdrawal records are kept under the keyed hash only (no phone number): "
    "they prove that messages went only to people who had asked for them and that the "
    "withdrawal was honoured (Art. 7(1) and 5(2) DSGVO). The daily cleanup deletes them "
    "{years:g} years after the last record.")


@dataclass
class ErasureReport:
    was_subscribed: bool
    deliveries_unlinked: int
    notice_throttle_removed: int
    outbox_removed: int
    consent_records_kept: int


def export(conn, vault, e164):
    """Everything stored about one number, as a JSON-ready dict."""
    conn = getattr(conn, "conn", conn)
    phone_hash = vault.hash(e164)
    # One read transaction, so that the parts agree with each other.
    conn.execute("BEGIN")
    try:
        subscriber = conn.execute("SELECT id, subscribed_at FROM subscribers WHERE phone_hash = ?",
                                  (phone_hash,)).fetchone()
        consent = _rows(conn, "SELECT action, keyword, at, message_sid FROM consent_events "
                              "WHERE phone_hash = ? ORDER BY at, id", phone_hash)
        deliveries = []
        if subscriber is not None:
            deliveries = _rows(
                conn,
                "SELECT d.broadcast_id, b.text AS broadcast_text, b.created_at AS broadcast_at, "
                "d.state, d.error_code, m.status AS delivery_status, "
                "m.updated_at AS status_updated_at "
                "FROM deliveries d JOIN broadcasts b ON b.id = d.broadcast_id "
                "LEFT JOIN message_status m ON m.sid = d.sid "
                "WHERE d.subscriber_id = ? ORDER BY d.broadcast_id", subscriber[0])
        throttle = conn.execute("SELECT sent_at FROM notice_throttle WHERE phone_hash = ?",
                                (phone_hash,)).fetchone()
        outbox = _rows(conn, "SELECT kind, body, media_url, broadcast_id, created_at FROM outbox "
                             "WHERE to_hash = ? ORDER BY id", phone_hash)
    finally:
        conn.rollback()
    return {
        "number": e164,
        "exported_at": now_iso(),
        "stored_as": "The number itself is stored only encrypted (Fernet), and is found by a "
                     "keyed hash (HMAC-SHA256); the records below are linked to that hash.",
        "subscribed": subscriber is not None,
        "subscribed_since": subscriber[1] if subscriber else None,
        "consent_events": consent,
        "deliveries": deliveries,
        "last_auto_notice_at": throttle[0] if throttle else None,
        "demo_outbox": outbox,
    }


def erase(conn, vault, e164):
    """Remove everything about one number except the consent proof; returns an ErasureReport."""
    phone_hash = vault.hash(e164)
    with write(conn) as tx:
        subscriber = tx.execute("SELECT id FROM subscribers WHERE phone_hash = ?",
                                (phone_hash,)).fetchone()
        unlinked = 0
        if subscriber is not None:
            delivery_ids = [row[0] for row in tx.execute(
                "SELECT id FROM deliveries WHERE subscriber_id = ?", (subscriber[0],))]
            unlinked = len(delivery_ids)
            # Twilio can tell from a message SID which number it went to; the counts keep the
            # status without it (a later receipt for a message still under way is lost).
            retention.forget_sids(tx, delivery_ids)
        # The same path as a Stop, so the withdrawal is recorded like any other.
        result = subscribers.unsubscribe(tx, phone_hash, "erasure", None)
        throttle = tx.execute("DELETE FROM notice_throttle WHERE phone_hash = ?",
                              (phone_hash,)).rowcount
        outbox = tx.execute("DELETE FROM outbox WHERE to_hash = ?", (phone_hash,)).rowcount
        kept = tx.execute("SELECT count(*) FROM consent_events WHERE phone_hash = ?",
                          (phone_hash,)).fetchone()[0]
    return ErasureReport(was_subscribed=result == subscribers.REMOVED,
                         deliveries_unlinked=unlinked, notice_throttle_removed=throttle,
                         outbox_removed=outbox, consent_records_kept=kept)


def _rows(conn, sql, *params):
    cursor = conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


# --- commands --------------------------------------------------------------------------------

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
    database = connect(current_app.config["DATABASE_PATH"])
    try:
        data = export(database.conn, current_app.extensions["infokanal"].vault, e164)
    finally:
        database.conn.close()
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@privacy_group.command("erase")
@click.argument("number", nargs=-1, required=True)
def erase_command(number):
    """Erase everything stored about NUMBER, except the consent proof (and say why)."""
    e164 = _number(number)
    database = connect(current_app.config["DATABASE_PATH"])
    try:
        report = erase(database.conn, current_app.extensions["infokanal"].vault, e164)
    finally:
        database.conn.close()
    if report.was_subscribed:
        click.echo("Unsubscribed and removed the encrypted number; no further broadcast will "
                   "reach it.")
    else:
        click.echo("The number was not subscribed; nothing encrypted was stored for it.")
    click.echo(f"Removed: {report.deliveries_unlinked} delivery links and their Twilio message "
               f"SIDs (the broadcast counts stay, without the link), "
               f"{report.notice_throttle_removed} auto-notice records, "
               f"{report.outbox_removed} demo outbox messages.")
    years = current_app.config["RETENTION_CONSENT_YEARS"]
    click.echo(f"Kept: {report.consent_records_kept} consent records. "
               + KEPT_REASON.format(years=years))
    click.echo("Not in this database: Twilio's own message logs; erase there separately if "
               "the citizen asks (see README, Datenschutz).")


def init_app(app):
    app.cli.add_command(privacy_group)
