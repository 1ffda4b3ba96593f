"""Retention: what the daily cleanup removes, and what it must keep."""

from datetime import datetime, timedelta, timezone

import pytest

from bot.store import broadcasts, retention
from bot.store.db import now_iso, write
from tests.conftest import broadcast, database, scalar


def finish(app, broadcast_id):
    """What the sender would do: every delivery sent, the broadcast done."""
    with write(database(app)) as conn:
        conn.execute("UPDATE deliveries SET state = 'sent', sid = 'SMsent' || id "
                     "WHERE broadcast_id = ?", (broadcast_id,))
        conn.execute("UPDATE broadcasts SET status = 'done', finished_at = ? WHERE id = ?",
                     (now_iso(), broadcast_id))


def test_stop_unlinks_the_citizen_from_past_deliveries(app, citizen):
    erika = citizen()
    erika.send("Start")
    broadcast_id = broadcast(app)
    erika.send("Stop")
    assert scalar(app, "SELECT count(*) FROM deliveries WHERE broadcast_id = ? "
                       "AND subscriber_id IS NULL", broadcast_id) == 1


def settings(app, **changes):
    return dict(app.config, **changes)


def test_cleanup_keeps_everything_that_is_young(app, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Frage")
    finish(app, broadcast(app))
    counts = retention.cleanup(database(app), app.config)
    assert not any(counts.values()), counts


def test_cleanup_removes_what_is_past_its_time(app, citizen):
    stays, leaves = citizen(), citizen()
    stays.send("Start")
    leaves.send("Start")
    leaves.send("Frage")
    finished, running = broadcast(app), None
    finish(app, finished)
    running = broadcast(app)
    leaves.send("Stop")
    with write(database(app)) as conn:
        conn.execute("INSERT INTO message_status (sid, rank, status, updated_at) "
                     "VALUES ('SMorphan', 2, 'sent', '2026-01-01T00:00:00.000000Z')")
    now = datetime.now(timezone.utc) + timedelta(days=365 * 3 + 2)
    counts = retention.cleanup(database(app), app.config, now)
    assert counts["inbound_messages"] == 4
    assert counts["notice_throttle"] == 1
    assert counts["deliveries_unlinked"] == 1     # the one still subscribed, finished broadcast
    assert counts["message_status"] == 1          # the orphan only
    assert counts["consent_events"] == 2          # the one who left; never a current subscriber
    assert scalar(app, "SELECT count(*) FROM consent_events") == 1
    assert scalar(app, "SELECT count(*) FROM deliveries WHERE broadcast_id = ? "
                       "AND subscriber_id IS NOT NULL", running) == 1
    assert broadcasts.get(database(app).conn, finished)["counts"]["sent"] == 2


def test_consent_records_stay_for_the_configured_years(app, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Stop")
    two_years = datetime.now(timezone.utc) + timedelta(days=365 * 2)
    assert retention.cleanup(database(app), app.config, two_years)["consent_events"] == 0
    shorter = settings(app, RETENTION_CONSENT_YEARS=1)
    assert retention.cleanup(database(app), shorter, two_years)["consent_events"] == 2


def test_cleanup_runs_once_per_interval(app):
    now = datetime.now(timezone.utc)
    assert retention.run_if_due(database(app), app.config, now) is not None
    assert retention.run_if_due(database(app), app.config, now + timedelta(hours=23)) is None
    assert retention.run_if_due(database(app), app.config, now + timedelta(hours=25)) is not None


def test_cleanup_command_prints_counts(app):
    result = app.test_cli_runner().invoke(args=["cleanup"])
    assert result.exit_code == 0 and "inbound_messages: 0" in result.output


@pytest.mark.parametrize("name", ["RETENTION_INBOUND_DAYS", "RETENTION_DELIVERY_DAYS",
                                  "RETENTION_CONSENT_YEARS", "CLEANUP_INTERVAL_HOURS"])
def test_retention_must_be_positive(config, name):
    from bot import create_app
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match=name):
        create_app(dict(config, **{name: 0}))


def test_the_sender_cleans_up_when_due_and_remembers_it(app):
    from bot.delivery import worker

    with write(database(app)) as conn:
        conn.execute("INSERT INTO inbound_messages (message_sid, received_at) "
                     "VALUES ('SMold', '2020-01-01T00:00:00.000000Z')")
    sender = worker.build(dict(app.config), app.extensions["infokanal"].vault, demo=True)
    sender.chores.cleanup_if_due()
    assert scalar(app, "SELECT count(*) FROM inbound_messages") == 0
    assert retention.last_run(database(app))
    # A restarted sender finds the last run in the database and does not repeat it.
    restarted = worker.build(dict(app.config), app.extensions["infokanal"].vault, demo=True)
    with write(database(app)) as conn:
        conn.execute("INSERT INTO inbound_messages (message_sid, received_at) "
                     "VALUES ('SMold2', '2020-01-01T00:00:00.000000Z')")
    restarted.chores.cleanup_if_due()
    assert scalar(app, "SELECT count(*) FROM inbound_messages") == 1
