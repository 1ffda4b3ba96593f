"""The audit trail: who did what, append-only, each entry chained to the one before.

An entry's hash is SHA-256 over its content (time, actor, action, target, details) and the
previous entry's hash. Changing an entry afterwards, or removing one from the middle, breaks
the chain at that entry, and ``verify`` names it. The chain begins at an anchor: a fixed value
for a trail that never lost an entry, else the hash of the last entry the retention cleanup
removed (``prune``), kept in ``meta``. Whoever can write the database file can also recompute
every hash; what the chain proves is that nothing was changed by the application, by accident,
or by someone who did not recompute the rest. ``verify`` prints the latest hash, which an
operator can note elsewhere to notice even that.

Actors: an account name, ``api`` (the API's token), ``cli`` (an operator command) or ``nina``
(the warnings relay). Details are small JSON objects of counts, ids, flags and hashes: never a
phone number, a password, or a broadcast's text (its SHA-256 stands in for it).

Appending reads the latest hash, so it must run inside the caller's write transaction (which
``db.write`` takes up front): two appends can never chain onto the same entry.
"""

import hashlib
import json
from dataclasses import dataclass

from .db import now_iso

API = "api"
CLI = "cli"
NINA = "nina"
# Names an account may not have: they would read as one of the machine actors above.
RESERVED_ACTORS = (API, CLI, NINA, "unknown")

GENESIS = "0" * 64
ANCHOR = "audit_anchor"        # meta: the hash the oldest kept entry chains onto
PRUNED = "audit_pruned"        # meta: JSON {"entries": n, "until": at of the last removed}
PRUNING = "audit_pruning"      # meta: set only while the cleanup removes entries


def text_hash(text):
    """What the trail keeps of a text: enough to prove which text it was, not the text."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def _details_json(details):
    return json.dumps(details or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_hash(prev_hash, at, actor, action, target, details_json):
    content = json.dumps([prev_hash, at, actor, action, target, details_json],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _anchor(conn):
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (ANCHOR,)).fetchone()
    return row[0] if row else GENESIS


def record(conn, actor, action, target=None, details=None):
    """Append an entry; the caller holds the write transaction. Returns its id."""
    conn = getattr(conn, "conn", conn)
    row = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = row[0] if row else _anchor(conn)
    at = now_iso()
    target = None if target is None else str(target)
    details_json = _details_json(details)
    digest = entry_hash(prev_hash, at, actor, action, target, details_json)
    return conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, details, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (at, actor, action, target, details_json, prev_hash, digest)).fetchone()[0]


_COLUMNS = "id, at, actor, action, target, details, prev_hash, hash"


def _entry(row):
    entry = dict(zip(("id", "at", "actor", "action", "target", "details", "prev_hash", "hash"),
                     row))
    try:
        entry["details"] = json.loads(entry["details"])
    except (TypeError, ValueError):
        pass  # shown as stored; verify names it
    return entry


def newest(conn, limit=50, before_id=None):
    """A page of entries, newest first."""
    conn = getattr(conn, "conn", conn)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?",
        (before_id if before_id is not None else 2 ** 62, limit)).fetchall()
    return [_entry(row) for row in rows]


def oldest_first(conn, since=None):
    """Every entry from ``since`` (ISO UTC) on, oldest first, read in pages."""
    conn = getattr(conn, "conn", conn)
    last = 0
    while True:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE id > ? AND at >= ? ORDER BY id LIMIT 500",
            (last, since or "")).fetchall()
        for row in rows:
            yield _entry(row)
        if len(rows) < 500:
            return
        last = rows[-1][0]


@dataclass
class Verification:
    checked: int
    latest_hash: str
    bad_id: int = None      # the first entry that does not match, None when all do
    reason: str = ""
    pruned: dict = None     # what the retention cleanup removed before the anchor

    @property
    def ok(self):
        return self.bad_id is None


def verify(conn):
    """Check the whole chain, oldest first; stops at the first entry that does not match."""
    conn = getattr(conn, "conn", conn)
    expected_prev = _anchor(conn)
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (PRUNED,)).fetchone()
    pruned = json.loads(row[0]) if row else None
    checked = 0
    last = 0
    while True:
        rows = conn.execute(
            "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log "
            "WHERE id > ? ORDER BY id LIMIT 1000", (last,)).fetchall()
        for entry_id, at, actor, action, target, details, prev_hash, digest in rows:
            if prev_hash != expected_prev:
                return Verification(checked, expected_prev, entry_id,
                                    "does not follow the entry before it (one was removed or "
                                    "changed)" if checked else
                                    "does not follow the chain's anchor (entries before it "
                                    "were removed)", pruned)
            if entry_hash(prev_hash, at, actor, action, target, details) != digest:
                return Verification(checked, expected_prev, entry_id,
                                    "its content does not match its hash (it was changed)",
                                    pruned)
            expected_prev = digest
            checked += 1
        if len(rows) < 1000:
            return Verification(checked, expected_prev, pruned=pruned)
        last = rows[-1][0]


def prune(conn, cutoff, batch_size=2000):
    """Remove entries older than ``cutoff`` (ISO UTC), oldest first, and move the anchor onto
    the last one removed, so that the rest still verifies. The caller holds the write
    transaction. Returns how many were removed."""
    conn = getattr(conn, "conn", conn)
    rows = conn.execute("SELECT id, at, hash FROM audit_log WHERE at < ? ORDER BY id LIMIT ?",
                        (cutoff, batch_size)).fetchall()
    if not rows:
        return 0
    last_id, last_at, last_hash = rows[-1]
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (PRUNED,)).fetchone()
    before = json.loads(row[0]) if row else {"entries": 0}
    conn.execute("INSERT INTO meta (name, value) VALUES (?, '1')", (PRUNING,))
    try:
        conn.execute("DELETE FROM audit_log WHERE id <= ?", (last_id,))
    finally:
        conn.execute("DELETE FROM meta WHERE name = ?", (PRUNING,))
    for name, value in ((ANCHOR, last_hash), (PRUNED, json.dumps(
            {"entries": before["entries"] + len(rows), "until": last_at}))):
        conn.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                     "DO UPDATE SET value = excluded.value", (name, value))
    return len(rows)
