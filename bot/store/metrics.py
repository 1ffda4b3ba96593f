"""What the operator's monitoring reads (``GET /metrics``): counts only, never a number or a
hash, each from an index or the counters table, so a scrape stays cheap however many
deliveries the database holds.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import counters, replica, replies
from .broadcasts import AWAITING, STATUSES
from .retention import LAST_RUN as CLEANUP_LAST_RUN

# Written by the warnings relay after each successful poll of the warning feed (ISO, UTC).
WARNINGS_POLLED_AT = "warnings_polled_at"


@dataclass
class Snapshot:
    subscribers: int
    broadcasts: dict          # {status: how many}
    queue_depth: int          # deliveries waiting in broadcasts the sender is working on
    counters: dict = field(default_factory=dict)
    warnings_polled_at: float = None   # Unix time, or None: never (or no relay)
    cleanup_last_run: float = None
    replies_waiting: int = 0  # answers to citizens queued for the worker, or in flight
    replica_behind_since: float = None  # Unix time, or None: the replica confirms every change


def snapshot(conn):
    # Waiting for a second publisher is worth an alert when it lasts: it is always reported.
    by_status = dict.fromkeys((*STATUSES, AWAITING), 0)
    # The broadcasts table is small (one row per announcement), and the status index covers it.
    by_status.update(conn.execute("SELECT status, count(*) FROM broadcasts GROUP BY status"))
    return Snapshot(
        # One pass over the subscribers table's smallest index: fine for the tens of thousands
        # a county has; a maintained counter would be the next step beyond that.
        subscribers=conn.execute("SELECT count(*) FROM subscribers").fetchone()[0],
        broadcasts=by_status,
        # Through deliveries_pending (broadcast_id, state, …): the work is proportional to
        # what is queued in the broadcasts being sent, not to all deliveries ever made.
        queue_depth=conn.execute(
            "SELECT count(*) FROM deliveries WHERE state IN ('queued', 'sending') AND "
            "broadcast_id IN (SELECT id FROM broadcasts WHERE status IN ('queued', 'sending'))"
        ).fetchone()[0],
        counters=counters.values(conn),
        warnings_polled_at=_meta_time(conn, WARNINGS_POLLED_AT),
        cleanup_last_run=_meta_time(conn, CLEANUP_LAST_RUN),
        # A row lives only until its answer is sent or given up: the table is what waits.
        replies_waiting=replies.pending(conn),
        replica_behind_since=_meta_time(conn, replica.BEHIND_SINCE),
    )


def _meta_time(conn, name):
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    try:
        moment = datetime.fromisoformat(row[0])
    except (TypeError, ValueError):
        return None  # not a time this module can read: no sample rather than a wrong one
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
