"""The auto-notice throttle forgets a citizen once its window is over (the sender's job)."""

from datetime import datetime, timedelta, timezone

from bot.store import retention
from bot.store.db import now_iso, to_iso, write
from bot.store.inbound import forget_old_notices
from tests.conftest import database, rows, scalar
from tests.test_broadcast_sender import run_sender


def remember(app, hours_ago, n, prefix):
    sent_at = to_iso(datetime.now(timezone.utc) - timedelta(hours=hours_ago))
    with write(database(app)) as conn:
        conn.executemany("INSERT INTO notice_throttle (phone_hash, sent_at) VALUES (?, ?)",
                         [(f"{prefix}{i}", sent_at) for i in range(n)])


def test_entries_older_than_the_window_are_deleted_in_batches(app):
    remember(app, hours_ago=25, n=1201, prefix="old")
    remember(app, hours_ago=23, n=2, prefix="recent")
    assert forget_old_notices(database(app), 24 * 3600, batch_size=500) == 1201
    assert rows(app, "SELECT phone_hash FROM notice_throttle ORDER BY 1") == [
        ("recent0",), ("recent1",)]
    assert forget_old_notices(database(app), 24 * 3600) == 0


def test_the_window_is_the_configured_one(app):
    remember(app, hours_ago=3, n=1, prefix="x")
    assert forget_old_notices(database(app), 4 * 3600) == 0
    assert forget_old_notices(database(app), 2 * 3600) == 1


def test_a_running_sender_forgets_without_waiting_for_the_daily_cleanup(app, citizen):
    person = citizen()
    assert person.send("Wann kommt der Müll?").status_code == 200  # gets the notice
    remember(app, hours_ago=2, n=3, prefix="old")
    with write(database(app)) as conn:  # the daily cleanup has just run: not due again
        conn.execute("INSERT INTO meta (name, value) VALUES (?, ?)",
                     (retention.LAST_RUN, now_iso()))
    run_sender(app, NOTICE_WINDOW_HOURS=1)
    assert scalar(app, "SELECT count(*) FROM notice_throttle") == 1, "the fresh one stays"
