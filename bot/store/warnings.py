"""What the warnings relay passed on (``relayed_warnings``), and the time of its last poll.

A row per revision of an official warning that the relay acted on, and per all-clear; rows of
one chain (a warning, its updates, its cancellation) share a ``thread``. Unique indexes prove
that nothing is acted on twice. Writes run inside the caller's write transaction. Nothing here
knows the feed's JSON (``nina``) or the relay's rules (``domain.warnings``).
"""

import json
from dataclasses import dataclass

POLLED_AT = "warnings_polled_at"  # meta: when the feed was last read completely, ISO UTC

ALERT, UPDATE, ALL_CLEAR = "alert", "update", "all_clear"

# A broadcast that citizens got, or are getting: not a draft, not discarded, not cancelled
# before it started.
_WENT_OUT = ("b.status NOT IN ('draft', 'discarded') "
             "AND NOT (b.status = 'cancelled' AND b.started_at IS NULL)")


@dataclass(frozen=True)
class Relayed:
    warning_id: str
    version: int
    hash: str
    thread: str
    kind: str
    provider: str
    severity: str
    headline: str
    broadcast_id: int | None


_FIELDS = "warning_id, version, hash, thread, kind, provider, severity, headline, broadcast_id"


def record(conn, relayed, now, held_back=False):
    """Write what was done about a revision (or a chain's all-clear). The unique indexes make a
    second try fail (sqlite3.IntegrityError), and with it the caller's whole transaction.
    ``held_back``: its broadcast is a draft only because the poll's cap was reached."""
    conn.execute(
        f"INSERT INTO relayed_warnings ({_FIELDS}, created_at, last_seen, held_back) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (relayed.warning_id, relayed.version, relayed.hash, relayed.thread, relayed.kind,
         relayed.provider, relayed.severity, relayed.headline, relayed.broadcast_id, now, now,
         int(held_back)))


def is_recorded(conn, warning_id, version, hash_):
    return conn.execute(
        "SELECT 1 FROM relayed_warnings WHERE warning_id = ? AND version = ? AND hash = ?",
        (warning_id, version, hash_)).fetchone() is not None


def thread_of(conn, warning_id):
    """The chain a warning id belongs to, or None."""
    row = conn.execute("SELECT thread FROM relayed_warnings WHERE warning_id = ? LIMIT 1",
                       (warning_id,)).fetchone()
    return row[0] if row else None


def thread_referred_to(conn, reference):
    """The chain of the warning a reference names: the feed's ids carry a prefix (``mow.``)
    that the sources' own references leave out."""
    row = conn.execute(
        "SELECT thread FROM relayed_warnings WHERE warning_id = ?1 "
        "OR substr(warning_id, instr(warning_id, '.') + 1) = ?1 LIMIT 1",
        (reference,)).fetchone()
    return row[0] if row else None


def is_ended(conn, thread):
    return conn.execute(
        "SELECT 1 FROM relayed_warnings WHERE thread = ? AND kind = 'all_clear'",
        (thread,)).fetchone() is not None


def ended_ids(conn, warning_ids):
    """Those of ``warning_ids`` whose chain has ended."""
    if not warning_ids:
        return set()
    return {row[0] for row in conn.execute(
        "SELECT r.warning_id FROM relayed_warnings r WHERE r.warning_id IN "
        "(SELECT value FROM json_each(?)) AND EXISTS (SELECT 1 FROM relayed_warnings e "
        "WHERE e.thread = r.thread AND e.kind = 'all_clear')", (_json(warning_ids),))}


def recorded_revisions(conn, warning_ids):
    """{(warning_id, version, hash)} already acted on, of these warning ids."""
    if not warning_ids:
        return set()
    return set(conn.execute(
        "SELECT warning_id, version, hash FROM relayed_warnings WHERE warning_id IN "
        "(SELECT value FROM json_each(?))", (_json(warning_ids),)).fetchall())


def latest(conn, thread):
    """The chain's last alert or update (what citizens were told last), or None."""
    row = conn.execute(
        f"SELECT {_FIELDS} FROM relayed_warnings WHERE thread = ? AND kind != 'all_clear' "
        "ORDER BY id DESC LIMIT 1", (thread,)).fetchone()
    return Relayed(*row) if row else None


def last_text(conn, thread):
    """The text of the chain's last broadcast that citizens got, or None."""
    row = conn.execute(
        "SELECT b.text FROM relayed_warnings r JOIN broadcasts b ON b.id = r.broadcast_id "
        f"WHERE r.thread = ? AND {_WENT_OUT} ORDER BY r.id DESC LIMIT 1", (thread,)).fetchone()
    return row[0] if row else None


def last_translations(conn, thread):
    """{language: text} of the chain's last broadcast that citizens got (its texts in the
    further languages), or {}."""
    row = conn.execute(
        "SELECT b.translations FROM relayed_warnings r JOIN broadcasts b "
        f"ON b.id = r.broadcast_id WHERE r.thread = ? AND {_WENT_OUT} ORDER BY r.id DESC "
        "LIMIT 1", (thread,)).fetchone()
    return json.loads(row[0]) if row and row[0] else {}


def severities_sent(conn, thread):
    """The severities of the chain's revisions that reached citizens."""
    return [row[0] for row in conn.execute(
        "SELECT r.severity FROM relayed_warnings r JOIN broadcasts b ON b.id = r.broadcast_id "
        f"WHERE r.thread = ? AND {_WENT_OUT}", (thread,))]


def was_cancelled(conn, thread):
    """Whether the press office cancelled a broadcast of the chain."""
    return conn.execute(
        "SELECT 1 FROM relayed_warnings r JOIN broadcasts b ON b.id = r.broadcast_id "
        "WHERE r.thread = ? AND b.status = 'cancelled' LIMIT 1", (thread,)).fetchone() is not None


def drafts_of(conn, thread):
    """Ids of the chain's broadcasts that are still drafts (or wait for approval)."""
    return [row[0] for row in conn.execute(
        "SELECT b.id FROM relayed_warnings r JOIN broadcasts b ON b.id = r.broadcast_id "
        "WHERE r.thread = ? AND b.status IN ('draft', 'awaiting_approval') ORDER BY b.id",
        (thread,))]


def seen(conn, warning_ids, now):
    """The poll at ``now`` found these warning ids on the dashboard."""
    if warning_ids:
        conn.execute("UPDATE relayed_warnings SET last_seen = ? WHERE warning_id IN "
                     "(SELECT value FROM json_each(?))", (now, _json(warning_ids)))


def vanished(conn, before):
    """Chains not ended whose warnings were last seen before ``before``: (thread, latest)."""
    rows = conn.execute(
        "SELECT thread FROM relayed_warnings r GROUP BY thread "
        "HAVING max(last_seen) < ? AND sum(kind = 'all_clear') = 0 ORDER BY min(id)",
        (before,)).fetchall()
    return [(thread, latest(conn, thread)) for (thread,) in rows]


def sources(conn, broadcast_ids):
    """{broadcast id: where it came from} for those of ``broadcast_ids`` the relay wrote."""
    if not broadcast_ids:
        return {}
    return {row[0]: {"kind": "nina", "id": row[1], "version": row[2], "provider": row[3],
                     "severity": row[4], "held_back": bool(row[5])}
            for row in conn.execute(
                "SELECT broadcast_id, warning_id, version, provider, severity, held_back "
                "FROM relayed_warnings WHERE broadcast_id IN (SELECT value FROM json_each(?))",
                (_json(broadcast_ids),))}


def polled_at(conn):
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (POLLED_AT,)).fetchone()
    return row[0] if row else None


def set_polled_at(conn, now):
    conn.execute("INSERT INTO meta (name, value) VALUES (?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (POLLED_AT, now))


def _json(values):
    return json.dumps(list(values))
