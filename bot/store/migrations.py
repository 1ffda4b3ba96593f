"""Schema migrations (sqlite-utils ``Migrations``), applied once each, in order.

The SQL ones are the sections of ``schema.sql`` (which documents the schema); the Python ones
move data, or use ``table.transform()`` for changes SQLite's ``ALTER TABLE`` cannot make. Their
names sort in the order they are applied. ``apply`` runs them under the database's write lock,
so gunicorn workers that start together migrate once between them.
"""

import re
import sqlite3
from pathlib import Path

from sqlite_utils import Migrations

from .. import vocabulary
from ..platforms import twilio as twilio_platform

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "schema.sql"
_SECTION = re.compile(r"^-- migration: (\S+)\s*$", re.MULTILINE)

migrations = Migrations("infokanal")


def schema_sections(text=None):
    """{name: SQL} of the sections of schema.sql, in file order."""
    text = SCHEMA_PATH.read_text(encoding="utf-8") if text is None else text
    parts = _SECTION.split(text)
    return dict(zip(parts[1::2], parts[2::2]))


def statements(script):
    """Split SQL text into statements (executescript would commit an open transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""


def _sql(name):
    """Register the schema.sql section ``name`` as the next migration."""

    def run(db):
        for statement in statements(schema_sections()[name]):
            db.execute(statement)

    run.__name__ = name
    migrations(name=name)(run)


_sql("0001_initial")
_sql("0002_error_kinds")


@migrations(name="0003_classify_stored_codes")
def _classify_stored_codes(db):
    """Kinds for the error codes stored before kinds existed."""
    for table, where in (("deliveries", "state = 'failed'"), ("message_status", "status = 'failed'")):
        codes = [row[0] for row in db.execute(
            f"SELECT DISTINCT error_code FROM {table} WHERE {where} AND error_code IS NOT NULL")]
        for code in codes:
            kind = (vocabulary.UNKNOWN if code == vocabulary.RETRIES_EXHAUSTED
                    else twilio_platform.classify_code(code))
            db.execute(f"UPDATE {table} SET error_kind = ? WHERE {where} AND error_code = ?",
                       [kind, code])


_sql("0004_delivery_receipts")


@migrations(name="0005_fold_final_status_rows")
def _fold_final_status_rows(db):
    """Older releases kept the status of a forgotten message id in shared message_status rows
    named ``final:<status>:<code>``; the delivery itself keeps it now (``receipt``)."""
    db.execute(
        "UPDATE deliveries SET receipt = m.status, "
        "error_code = CASE WHEN m.status = 'failed' THEN m.error_code ELSE deliveries.error_code "
        "END, error_kind = CASE WHEN m.status = 'failed' THEN m.error_kind "
        "ELSE deliveries.error_kind END, sid = NULL "
        "FROM message_status m WHERE m.sid = deliveries.sid AND deliveries.sid LIKE 'final:%'")
    db.execute("DELETE FROM message_status WHERE sid LIKE 'final:%'")


_sql("0006_subscriber_departures")
_sql("0007_counted_deliveries")


@migrations(name="0008_count_existing_deliveries")
def _count_existing_deliveries(db):
    """Receipts of deliveries sent before onto the deliveries, and their counts, once."""
    db.execute(
        "UPDATE deliveries SET receipt = m.status, receipt_rank = m.rank, "
        "receipt_at = m.updated_at, "
        "error_code = CASE WHEN m.status = 'failed' THEN m.error_code ELSE deliveries.error_code "
        "END, error_kind = CASE WHEN m.status = 'failed' THEN m.error_kind "
        "ELSE deliveries.error_kind END "
        "FROM message_status m WHERE m.sid = deliveries.sid")
    db.execute("DELETE FROM message_status WHERE sid IN (SELECT sid FROM deliveries "
               "WHERE sid IS NOT NULL)")
    # Receipts folded in by 0005 came without their rank.
    db.execute(
        "UPDATE deliveries SET receipt_rank = CASE receipt WHEN 'sent' THEN 2 "
        "WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 WHEN 'failed' THEN 9 END "
        "WHERE receipt IS NOT NULL AND receipt_rank IS NULL")
    db.execute(
        "INSERT INTO delivery_counts (broadcast_id, bucket, code, kind, n) "
        "SELECT broadcast_id, bucket, bucket_code, bucket_kind, count(*) FROM deliveries "
        "GROUP BY 1, 2, 3, 4")


_sql("0009_keep_delivery_counts")


def _rebuild(name, done):
    """Register the schema.sql section ``name``, which rebuilds a table, as the next migration.

    SQLite's way of rebuilding a table that others refer to: foreign keys off (with them on,
    dropping the old table deletes its rows first and fails for every row that refers to one,
    and PRAGMA foreign_keys cannot change inside a transaction, so this migration runs outside
    the one sqlite-utils would open), the whole rebuild in one transaction, the foreign keys
    checked before it commits. ``done(db)`` says whether the rebuild already happened: if the
    process dies between the commit and the record of the migration, the next start finds it
    done and only records it.
    """

    def run(db):
        if done(db):
            return
        db.execute("PRAGMA foreign_keys = OFF")
        try:
            with db.atomic():
                for statement in statements(schema_sections()[name]):
                    db.execute(statement)
                broken = db.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise sqlite3.IntegrityError(f"{name} would break foreign keys: {broken}")
        finally:
            db.execute("PRAGMA foreign_keys = ON")

    run.__name__ = name
    migrations(name=name, transactional=False)(run)


def _broadcasts_allow(status):
    """Whether the broadcasts table, as it stands, already allows ``status`` (its rebuild
    has run)."""
    return lambda db: f"'{status}'" in (db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'broadcasts'"
    ).fetchone() or [""])[0]


_rebuild("0010_broadcast_drafts", done=_broadcasts_allow("draft"))
_sql("0011_relayed_warnings")
_sql("0012_topics_and_languages")
_sql("0013_metrics")
_sql("0014_user_roles")
_rebuild("0015_broadcast_approval", done=_broadcasts_allow("awaiting_approval"))
_sql("0016_audit_trail")
_sql("0017_media")
_sql("0018_audit_aggregation")
_sql("0019_approval_binding")
_sql("0020_relay_cap")
_sql("0021_replies")
_sql("0022_citizen_cap_retries")
_sql("0023_recent_reach")
_sql("0024_message_usage")
_sql("0025_reactions_corrections")
_sql("0026_polls")
_sql("0027_media_kinds")
_sql("0030_event_receipts")
_sql("0031_privacy_links")


def apply(db):
    """Apply what is pending; the caller holds the write lock and no transaction."""
    migrations.apply(db)


def pending(db):
    return [migration.name for migration in migrations.pending(db)]
