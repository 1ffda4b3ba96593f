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

It is long because the chain and its checks belong together: appending, the incremental
check from a stored checkpoint (so a page load walks only what is new), the full check on
demand, and pruning that moves the anchor, all read the same hashes the same way.
"""

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .db import now_iso, write

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
    checked: int            # entries checked by this call
    latest_hash: str        # the hash of the last entry that verified (or the anchor)
    bad_id: int = None      # the first entry that does not match, None when all do
    reason: str = ""
    pruned: dict = None     # what the retention cleanup removed before the anchor
    last_id: int = 0        # the last entry that verified (0: none)
    entries: int = 0        # entries verified from the anchor up to last_id
    complete: bool = True   # False: stopped at its limit, newer entries remain unchecked

    @property
    def ok(self):
        return self.bad_id is None


def _meta(conn, name):
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return json.loads(row[0]) if row else None


def _set_meta(conn, name, value):
    conn.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                 "DO UPDATE SET value = excluded.value", (name, json.dumps(value)))


def _walk(conn, after_id, expected_prev, limit=None, seconds=None):
    """Check the entries after ``after_id`` against the chain, oldest first, up to ``limit``
    entries or for about ``seconds``; stops at the first entry that does not match. Returns a
    Verification without ``pruned`` and with ``entries`` counting only this walk."""
    checked = 0
    last_id = after_id
    first_reason = "does not follow the chain's anchor (entries before it were removed)"
    deadline = None if seconds is None else time.monotonic() + seconds
    while True:
        size = 1000 if limit is None else min(1000, limit - checked)
        if size <= 0 or (deadline is not None and checked and time.monotonic() > deadline):
            more = conn.execute("SELECT 1 FROM audit_log WHERE id > ? LIMIT 1",
                                (last_id,)).fetchone()
            return Verification(checked, expected_prev, last_id=last_id, entries=checked,
                                complete=more is None)
        rows = conn.execute(
            "SELECT id, at, actor, action, target, details, prev_hash, hash FROM audit_log "
            "WHERE id > ? ORDER BY id LIMIT ?", (last_id, size)).fetchall()
        for entry_id, at, actor, action, target, details, prev_hash, digest in rows:
            if prev_hash != expected_prev:
                return Verification(checked, expected_prev, entry_id,
                                    "does not follow the entry before it (one was removed or "
                                    "changed)" if checked or after_id else first_reason,
                                    last_id=last_id, entries=checked)
            if entry_hash(prev_hash, at, actor, action, target, details) != digest:
                return Verification(checked, expected_prev, entry_id,
                                    "its content does not match its hash (it was changed)",
                                    last_id=last_id, entries=checked)
            expected_prev = digest
            last_id = entry_id
            checked += 1
        if len(rows) < size:
            return Verification(checked, expected_prev, last_id=last_id, entries=checked)


@contextmanager
def _snapshot(conn):
    """One read transaction for a whole check: the retention cleanup removing entries and
    moving the anchor half-way through would otherwise look like a broken chain."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.rollback()


def verify(conn):
    """Check the whole chain, oldest first; stops at the first entry that does not match."""
    conn = getattr(conn, "conn", conn)
    with _snapshot(conn):
        result = _walk(conn, 0, _anchor(conn))
        result.pruned = _meta(conn, PRUNED)
    return result


# The incremental check: a checkpoint names the last entry of the prefix that verified (its id,
# its hash, how many entries the prefix holds). A check from there on reads only what was
# added since, and the page that shows the trail stays fast however long it gets. An entry
# changed before the checkpoint is found only by the full check (``verify_all``), which the
# worker (daily), ``audit verify`` and the page's button run; its latest result is kept.
CHECKPOINT = "audit_checkpoint"    # meta: JSON {"id", "hash", "entries", "at"}
FULL_CHECK = "audit_full_check"    # meta: JSON {"at", "ok", "checked", "bad_id", "reason"}


def checkpoint(conn):
    return _meta(getattr(conn, "conn", conn), CHECKPOINT)


def last_full_check(conn):
    return _meta(getattr(conn, "conn", conn), FULL_CHECK)


def _advance(db, result, base_entries):
    """Move the checkpoint to the result's last entry, unless another check got further."""
    if not result.last_id:
        return
    with write(db) as conn:
        stored = _meta(conn, CHECKPOINT)
        if stored and stored["id"] >= result.last_id:
            return
        _set_meta(conn, CHECKPOINT, {"id": result.last_id, "hash": result.latest_hash,
                                     "entries": base_entries + result.checked,
                                     "at": now_iso()})


def verify_new(db, limit=None, seconds=None):
    """Check what was added since the checkpoint (at most ``limit`` entries, or for about
    ``seconds``) and move the checkpoint on. ``checked`` is what this call read; ``entries``
    the whole verified prefix."""
    conn = getattr(db, "conn", db)
    with _snapshot(conn):
        result, base = _check_new(conn, limit, seconds)
    if result.checked:
        _advance(db, result, base)
    result.entries = base + result.checked
    return result


def _check_new(conn, limit, seconds):
    pruned = _meta(conn, PRUNED)
    stored = _meta(conn, CHECKPOINT)
    if stored is None:
        result = _walk(conn, 0, _anchor(conn), limit, seconds)
        base = 0
    else:
        base = stored["entries"]
        row = conn.execute("SELECT id, at, actor, action, target, details, prev_hash, hash "
                           "FROM audit_log WHERE id = ?", (stored["id"],)).fetchone()
        if row is None and stored["hash"] != _anchor(conn):
            return Verification(0, stored["hash"], stored["id"],
                                "was verified before and is missing now (it was removed)",
                                pruned, stored["id"], 0, False), base
        if row is not None and (row[7] != stored["hash"]
                                or entry_hash(row[6], *row[1:6]) != row[7]):
            return Verification(0, stored["hash"], stored["id"],
                                "its content does not match its hash (it was changed)",
                                pruned, stored["id"], 0, False), base
        result = _walk(conn, stored["id"], stored["hash"], limit, seconds)
    result.pruned = pruned
    return result, base


def verify_all_if_due(db, hours):
    """The full check, when the last one is older than ``hours`` (or there was none); None
    when it was not due."""
    last = last_full_check(db)
    if last and datetime.fromisoformat(last["at"].replace("Z", "+00:00")) > \
            datetime.now(timezone.utc) - timedelta(hours=hours):
        return None
    return verify_all(db)


def verify_all(db):
    """The full check; its result is kept (``last_full_check``), and when the whole chain
    verifies the checkpoint moves to its end."""
    conn = getattr(db, "conn", db)
    result = verify(conn)
    if result.ok:
        _advance(db, result, 0)
    with write(db) as tx:
        _set_meta(tx, FULL_CHECK, {"at": now_iso(), "ok": result.ok, "checked": result.checked,
                                   "bad_id": result.bad_id, "reason": result.reason})
    return result


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
    # The verified prefix loses what was removed; a checkpoint inside it moves to the new
    # anchor, from which the next check goes on.
    stored = _meta(conn, CHECKPOINT)
    if stored is not None:
        if stored["id"] > last_id:
            stored["entries"] = max(0, stored["entries"] - len(rows))
        else:
            stored.update(id=last_id, hash=last_hash, entries=0)
        _set_meta(conn, CHECKPOINT, stored)
    return len(rows)
