"""The outbox's storage rules, on a real SQLite file: what the sender's steps leave behind."""

import time

import pytest

from bot import broadcasts
from bot.db import now_iso, write
from tests.conftest import broadcast, database, rows


@pytest.fixture
def conn(app):
    return database(app).conn


def subscribe(citizen, n):
    for _ in range(n):
        assert citizen().send("Start").status_code == 200


def in_flight(conn, broadcast_id):
    with write(conn) as tx:
        return broadcasts.claim(tx, broadcast_id, 100, time.time())


def expire_now(conn, broadcast_id):
    with write(conn) as tx:
        tx.execute("UPDATE broadcasts SET expires_at = ? WHERE id = ?",
                   (now_iso(-1), broadcast_id))
        broadcasts.housekeeping(tx)


def housekeeping(conn):
    with write(conn) as tx:
        return broadcasts.housekeeping(tx)


def test_a_send_retried_after_its_broadcast_expired_is_skipped_not_left_queued(app, conn,
                                                                               citizen):
    subscribe(citizen, 2)
    broadcast_id = broadcast(app)
    claimed = in_flight(conn, broadcast_id)
    expire_now(conn, broadcast_id)  # the storm passed while both sends were under way
    with write(conn) as tx:  # one answered 429, one 5xx: both come back for another try
        broadcasts.record_outcomes(tx, [], [], [], [(0, c.delivery_id) for c in claimed], {})
    housekeeping(conn)
    final = broadcasts.get(conn, broadcast_id)
    assert final["status"] == "done"
    assert final["counts"]["queued"] == 0 and final["counts"]["skipped"] == 2
    assert broadcasts.skip_reasons(conn, broadcast_id) == {"expired": 2}


def test_a_send_in_flight_at_a_crash_after_expiry_is_skipped(app, conn, citizen):
    subscribe(citizen, 1)
    broadcast_id = broadcast(app)
    in_flight(conn, broadcast_id)
    expire_now(conn, broadcast_id)
    with write(conn) as tx:
        broadcasts.recover_in_flight(tx)
    housekeeping(conn)
    final = broadcasts.get(conn, broadcast_id)
    assert final["counts"]["queued"] == 0 and final["counts"]["skipped"] == 1


def test_a_send_retried_after_a_cancel_is_skipped_as_cancelled(app, conn, citizen):
    subscribe(citizen, 1)
    broadcast_id = broadcast(app)
    claimed = in_flight(conn, broadcast_id)
    with write(conn) as tx:
        broadcasts.cancel(tx, broadcast_id)
        broadcasts.record_outcomes(tx, [], [], [], [(0, claimed[0].delivery_id)], {})
    housekeeping(conn)
    assert broadcasts.skip_reasons(conn, broadcast_id) == {"cancelled": 1}
    assert broadcasts.get(conn, broadcast_id)["counts"]["queued"] == 0


def attempts(app):
    return [n for (n,) in rows(app, "SELECT attempts FROM deliveries ORDER BY id")]


def test_only_unknown_outcomes_count_as_attempts(app, conn, citizen):
    subscribe(citizen, 3)
    broadcast_id = broadcast(app)
    # A pause or a cancel hands claimed deliveries back; a 429 retries them; a crash requeues.
    for _ in range(3):
        claimed = in_flight(conn, broadcast_id)
        with write(conn) as tx:
            broadcasts.record_outcomes(tx, [], [], [], [(0, c.delivery_id) for c in claimed], {})
        in_flight(conn, broadcast_id)
        with write(conn) as tx:
            broadcasts.recover_in_flight(tx)
    assert attempts(app) == [0, 0, 0]
    claimed = in_flight(conn, broadcast_id)
    assert [c.attempts for c in claimed] == [0, 0, 0]
    with write(conn) as tx:  # the first answered 5xx: that one counts
        broadcasts.record_outcomes(tx, [], [], [], [(0, c.delivery_id) for c in claimed[1:]],
                                   {broadcast_id: 1}, counted_retry=[(0, claimed[0].delivery_id)])
    assert attempts(app) == [1, 0, 0]
    assert [c.attempts for c in in_flight(conn, broadcast_id)] == [1, 0, 0]
