"""Two refusals that are about one citizen and no fault of the office's: the platform's cap per
citizen on marketing messages (tried again hours later, counted apart) and a citizen who
declined such messages at WhatsApp (their choice: failed, counted apart, still subscribed).
Storage on a real SQLite file, after a real send through the fake Twilio; the refusals come as
status reports in our words, as every platform's module hands them over."""

import time

import pytest

from bot import vocabulary as v
from bot.platforms.base import StatusUpdate
from bot.store import broadcasts, citizen_cap, deliveries, statuses
from bot.store.db import now_iso, write
from bot.web import labels
from tests.conftest import ADMIN_TOKEN, database, rows
from tests.test_reply_sending import run_until_idle, subscribe_many

CAP_CODE, DECLINED_CODE = "131049", "131050"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def sent_broadcast(app, n=2, **fields):
    """A broadcast to ``n`` citizens, sent through the fake platform: its id and
    [(delivery id, message id)]."""
    subscribe_many(app, n)
    with write(database(app)) as conn:
        broadcast_id = broadcasts.create(conn, "Hochwasser an der Mulde", **fields)[0]
    run_until_idle(app)
    return broadcast_id, rows(app, "SELECT id, sid FROM deliveries WHERE broadcast_id = ? "
                                   "ORDER BY id", broadcast_id)


def report(app, *updates):
    with write(database(app)) as conn:
        statuses.record_many(conn, list(updates))


def failed(sid, code, kind):
    return StatusUpdate(sid, v.FAILED, v.RANK[v.FAILED], code, kind)


def test_a_citizen_cap_in_a_status_report_sends_that_message_again_hours_later(app, client):
    broadcast_id, ((capped, sid), (fine, _)) = sent_broadcast(app)
    assert broadcasts.get(database(app).conn, broadcast_id)["status"] == "done"
    before = time.time()
    report(app, failed(sid, CAP_CODE, v.CITIZEN_CAP))
    (state, next_at, message_id, kind), = rows(
        app, "SELECT state, next_attempt_at, sid, error_kind FROM deliveries WHERE id = ?",
        capped)
    assert (state, message_id, kind) == ("queued", None, None)
    assert before + citizen_cap.RETRY_SECONDS - 5 <= next_at \
        <= time.time() + citizen_cap.RETRY_SECONDS
    assert rows(app, "SELECT attempts FROM deliveries WHERE id = ?", capped) == [(0,)]
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["status"] == "sending", "it has one more to send"
    assert final["retries_citizen_cap"] == 1
    assert final["counts"]["queued"] == 1 and final["counts"]["failed"] == 0
    assert rows(app, "SELECT count(*) FROM subscribers") == [(2,)]
    detail = client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH).json
    assert detail["retries_citizen_cap"] == 1 and detail["retries_unknown"] == 0
    assert detail["hints"] == []


def test_a_citizen_cap_is_tried_again_before_the_broadcast_expires(app):
    broadcast_id, ((capped, sid), _) = sent_broadcast(app, expires_at=now_iso(3600))
    report(app, failed(sid, CAP_CODE, v.CITIZEN_CAP))
    (next_at,), = rows(app, "SELECT next_attempt_at FROM deliveries WHERE id = ?", capped)
    assert time.time() + 1700 <= next_at <= time.time() + 1800, "halfway to the expiry"


def test_a_citizen_cap_reported_before_the_send_was_recorded_still_sends_again(app):
    subscribe_many(app, 1)
    with write(database(app)) as conn:
        broadcast_id = broadcasts.create(conn, "Glätte")[0]
        (claimed,) = deliveries.claim(conn, broadcast_id, 10, time.time())
    # The platform's report overtakes the sender's record of the message id.
    report(app, failed("wamid.early", CAP_CODE, v.CITIZEN_CAP))
    with write(database(app)) as conn:
        deliveries.record_outcomes(conn, [("wamid.early", claimed.delivery_id)], [], [], [],
                                   {})
    assert rows(app, "SELECT state, sid FROM deliveries") == [("queued", None)]
    assert broadcasts.get(database(app).conn, broadcast_id)["retries_citizen_cap"] == 1
    assert rows(app, "SELECT count(*) FROM message_status") == [(0,)]


def test_a_citizen_cap_on_a_send_goes_back_uncounted_and_gives_up_after_a_day(app):
    subscribe_many(app, 2)
    with write(database(app)) as conn:
        broadcast_id = broadcasts.create(conn, "Sturm")[0]
        first, second = deliveries.claim(conn, broadcast_id, 10, time.time())
        citizen_cap.retry(conn, [(CAP_CODE, first.delivery_id, 600)])
        # A broadcast going for a day: its news is old, and it must end.
        conn.execute("UPDATE broadcasts SET started_at = ? WHERE id = ?",
                     (now_iso(-citizen_cap.GIVE_UP_SECONDS), broadcast_id))
        citizen_cap.retry(conn, [(CAP_CODE, second.delivery_id, 600)])
    assert rows(app, "SELECT state, attempts, error_code, error_kind FROM deliveries "
                     "ORDER BY id") == [("queued", 0, None, None),
                                        ("failed", 0, CAP_CODE, v.CITIZEN_CAP)]
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["retries_citizen_cap"] == 1
    assert final["failures"] == {(v.CITIZEN_CAP, CAP_CODE): 1}


def test_a_citizen_cap_reported_for_a_cancelled_broadcast_stays_a_failure(app, client):
    broadcast_id, ((capped, sid), _) = sent_broadcast(app)
    with write(database(app)) as conn:
        conn.execute("UPDATE broadcasts SET status = 'cancelled' WHERE id = ?", (broadcast_id,))
    report(app, failed(sid, CAP_CODE, v.CITIZEN_CAP))
    assert rows(app, "SELECT state, receipt, error_kind FROM deliveries WHERE id = ?",
                capped) == [("sent", "failed", v.CITIZEN_CAP)]
    assert broadcasts.get(database(app).conn, broadcast_id)["retries_citizen_cap"] == 0


def test_a_declined_marketing_message_is_the_citizens_choice(app, client):
    broadcast_id, ((declined, sid), _) = sent_broadcast(app)
    report(app, failed(sid, DECLINED_CODE, v.MARKETING_DECLINED))
    assert rows(app, "SELECT state, receipt, error_kind FROM deliveries WHERE id = ?",
                declined) == [("sent", "failed", v.MARKETING_DECLINED)]
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["status"] == "done" and final["retries_citizen_cap"] == 0
    assert final["failures"] == {(v.MARKETING_DECLINED, DECLINED_CODE): 1}
    # Still subscribed: they declined such messages at WhatsApp, not the county's channel.
    assert rows(app, "SELECT count(*) FROM subscribers") == [(2,)]
    detail = client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH).json
    assert detail["errors"] == {DECLINED_CODE: 1} and detail["hints"] == []


@pytest.mark.parametrize("kind", [v.CITIZEN_CAP, v.MARKETING_DECLINED])
def test_the_console_names_both_in_plain_german_apart_from_the_others(kind):
    label = labels.failure(kind, "1")
    assert "Code" not in label and label not in {
        labels.failure(other, "1") for other in v.ERROR_KINDS if other != kind}
    assert "Werbe-Nachrichten" in label


def test_the_console_page_shows_citizen_cap_retries_and_declines(app, console):
    broadcast_id, ((capped, capped_sid), (declined, declined_sid)) = sent_broadcast(app)
    report(app, failed(capped_sid, CAP_CODE, v.CITIZEN_CAP),
           failed(declined_sid, DECLINED_CODE, v.MARKETING_DECLINED))
    page = console.client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert 'id="citizen-cap">1-mal hat WhatsApp' in page
    assert "Hat Werbe-Nachrichten dieses Absenders in WhatsApp abgelehnt: 1" in page
