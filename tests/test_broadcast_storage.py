"""The outbox's storage rules, on a real SQLite file: what the sender's steps leave behind."""

import time

import pytest

from bot.store import broadcasts, deliveries, statuses
from bot.store.db import now_iso, write
from tests.conftest import broadcast, database, rows


@pytest.fixture
def conn(app):
    return database(app).conn


def subscribe(citizen, n):
    for _ in range(n):
        assert citizen().send("Start").status_code == 200


def in_flight(conn, broadcast_id):
    with write(conn) as tx:
        return deliveries.claim(tx, broadcast_id, 100, time.time())


def expire_now(conn, broadcast_id):
    with write(conn) as tx:
        tx.execute("UPDATE broadcasts SET expires_at = ? WHERE id = ?",
                   (now_iso(-1), broadcast_id))
        deliveries.housekeeping(tx)


def housekeeping(conn):
    with write(conn) as tx:
        return deliveries.housekeeping(tx)


def test_a_send_retried_after_its_broadcast_expired_is_skipped_not_left_queued(app, conn,
                                                                               citizen):
    subscribe(citizen, 2)
    broadcast_id = broadcast(app)
    claimed = in_flight(conn, broadcast_id)
    expire_now(conn, broadcast_id)  # the storm passed while both sends were under way
    with write(conn) as tx:  # one answered 429, one 5xx: both come back for another try
        deliveries.record_outcomes(tx, [], [], [], [(0, c.delivery_id) for c in claimed], {})
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
        deliveries.recover_in_flight(tx)
    housekeeping(conn)
    final = broadcasts.get(conn, broadcast_id)
    assert final["counts"]["queued"] == 0 and final["counts"]["skipped"] == 1


def test_a_send_retried_after_a_cancel_is_skipped_as_cancelled(app, conn, citizen):
    subscribe(citizen, 1)
    broadcast_id = broadcast(app)
    claimed = in_flight(conn, broadcast_id)
    with write(conn) as tx:
        broadcasts.cancel(tx, broadcast_id)
        deliveries.record_outcomes(tx, [], [], [], [(0, claimed[0].delivery_id)], {})
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
            deliveries.record_outcomes(tx, [], [], [], [(0, c.delivery_id) for c in claimed], {})
        in_flight(conn, broadcast_id)
        with write(conn) as tx:
            deliveries.recover_in_flight(tx)
    assert attempts(app) == [0, 0, 0]
    claimed = in_flight(conn, broadcast_id)
    assert [c.attempts for c in claimed] == [0, 0, 0]
    with write(conn) as tx:  # the first answered 5xx: that one counts
        deliveries.record_outcomes(tx, [], [], [], [(0, c.delivery_id) for c in claimed[1:]],
                                   {broadcast_id: 1}, counted_retry=[(0, claimed[0].delivery_id)])
    assert attempts(app) == [1, 0, 0]
    assert [c.attempts for c in in_flight(conn, broadcast_id)] == [1, 0, 0]


def callback(conn, sid, status="failed", error_code="63018"):
    """Record a status callback the way the webhook does."""
    from bot.platforms import twilio as gateway

    update = gateway.parse_status({"MessageSid": sid, "MessageStatus": status,
                                   "ErrorCode": error_code})
    with write(conn) as tx:
        statuses.record(tx, update)


def sent(conn, claimed):
    """Record the sends as the sender does; returns their sids."""
    sids = [f"SM{c.delivery_id:032x}" for c in claimed]
    with write(conn) as tx:
        deliveries.record_outcomes(tx, list(zip(sids, [c.delivery_id for c in claimed])), [],
                                   [], [], {})
    return sids


def test_a_limit_refusal_in_a_callback_pauses_and_sends_that_message_again(app, conn, citizen):
    subscribe(citizen, 3)
    broadcast_id = broadcast(app)
    sids = sent(conn, in_flight(conn, broadcast_id))
    callback(conn, sids[0])
    paused = broadcasts.get(conn, broadcast_id)
    assert paused["status"] == "paused" and paused["pause_reason"] == "messaging limit (63018)"
    assert paused["counts"]["failed"] == 0 and paused["counts"]["queued"] == 1
    assert paused["errors"] == {}
    callback(conn, sids[0])  # Twilio repeats itself: nothing more happens
    assert broadcasts.get(conn, broadcast_id)["counts"]["queued"] == 1

    before = now_iso(90)
    assert housekeeping_with_pause(conn, 120) == [(broadcast_id, "messaging limit (63018)")]
    waiting = broadcasts.get(conn, broadcast_id)
    assert waiting["status"] == "paused" and before < waiting["resume_at"] <= now_iso(120)
    assert housekeeping_with_pause(conn, 120) == []  # its time is set once


def housekeeping_with_pause(conn, seconds):
    with write(conn) as tx:
        return deliveries.housekeeping(tx, limit_pause_seconds=seconds)


def test_a_limit_refusal_reported_before_the_sid_was_stored_is_caught_then(app, conn,
                                                                            citizen):
    subscribe(citizen, 2)
    broadcast_id = broadcast(app)
    claimed = in_flight(conn, broadcast_id)
    callback(conn, f"SM{claimed[1].delivery_id:032x}")  # faster than the sender's write
    assert broadcasts.get(conn, broadcast_id)["status"] == "sending"
    sent(conn, claimed)
    paused = broadcasts.get(conn, broadcast_id)
    assert paused["status"] == "paused" and paused["counts"]["queued"] == 1
    assert rows(app, "SELECT state, sid FROM deliveries WHERE id = ?",
                claimed[1].delivery_id) == [("queued", None)]


def test_a_limit_refusal_after_the_last_send_reopens_the_broadcast(app, conn, citizen):
    subscribe(citizen, 1)
    broadcast_id = broadcast(app)
    sids = sent(conn, in_flight(conn, broadcast_id))
    housekeeping(conn)
    assert broadcasts.get(conn, broadcast_id)["status"] == "done"
    callback(conn, sids[0])
    reopened = broadcasts.get(conn, broadcast_id)
    assert reopened["status"] == "paused" and reopened["finished_at"] is None
    assert reopened["counts"]["queued"] == 1


def test_a_limit_refusal_of_a_cancelled_broadcast_stays_failed(app, conn, citizen):
    subscribe(citizen, 2)
    broadcast_id = broadcast(app)
    claimed = in_flight(conn, broadcast_id)
    sids = sent(conn, claimed[:1])
    with write(conn) as tx:
        broadcasts.cancel(tx, broadcast_id)
    callback(conn, sids[0])
    final = broadcasts.get(conn, broadcast_id)
    assert final["status"] == "cancelled" and final["errors"] == {"63018": 1}


def test_other_failures_in_callbacks_do_not_pause(app, conn, citizen):
    subscribe(citizen, 2)
    broadcast_id = broadcast(app)
    sids = sent(conn, in_flight(conn, broadcast_id))
    callback(conn, sids[0], error_code="63024")
    housekeeping(conn)
    final = broadcasts.get(conn, broadcast_id)
    assert final["status"] == "done" and final["errors"] == {"63024": 1}


@pytest.mark.parametrize("order", [
    ["read", "delivered", "sent"], ["delivered", "sent", "read"], ["sent", "read", "delivered"],
])
def test_a_lower_status_never_overwrites_a_higher_one(conn, order):
    for status in order:
        callback(conn, "SM" + "c" * 32, status=status, error_code=None)
    assert conn.execute("SELECT status, rank FROM message_status").fetchall() == [("read", 4)]


def test_a_failure_is_final_whatever_comes_after_it(conn):
    for status in ("delivered", "failed", "read", "sent"):
        callback(conn, "SM" + "d" * 32, status=status, error_code="63016")
    assert conn.execute("SELECT status, error_code, error_kind FROM message_status").fetchall() \
        == [("failed", "63016", "template_needed")]


def test_those_reached_in_the_last_24_hours_are_sent_first(app, conn, citizen):
    """The sender pauses a broadcast at WhatsApp's messaging limit; those the platform still lets
    us reach today (they do not count again) are in its queue before the others."""
    subscribe(citizen, 4)
    first = broadcast(app, "Gestern")
    with write(conn) as tx:
        # The second and fourth got a message 23 hours ago, the first 25 hours ago.
        for subscriber_id, hours in ((2, 23), (4, 23), (1, 25)):
            tx.execute("UPDATE deliveries SET state = 'sent', sent_at = ? "
                       "WHERE broadcast_id = ? AND subscriber_id = ?",
                       (time.time() - hours * 3600, first, subscriber_id))
    second = broadcast(app, "Heute")
    assert [subscriber for (subscriber,) in rows(
        app, "SELECT subscriber_id FROM deliveries WHERE broadcast_id = ? ORDER BY id",
        second)] == [2, 4, 1, 3]
