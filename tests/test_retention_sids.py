"""Twilio's message SIDs lead back to the number at Twilio: retention and erasure drop them,
and the broadcast's counts stay exactly as they were."""

from datetime import datetime, timedelta, timezone

from bot.store import broadcasts, privacy, retention
from tests.conftest import ACCOUNT_SID, broadcast, database, rows


def send_and_report(app, citizen, twilio_api, reports):
    """Subscribe one citizen per report, send a broadcast through the real sender and fake
    Twilio, then post signed status callbacks: reports are (status, error code) or None
    (no callback), or "refused" (Twilio refuses the number at once, 63003)."""
    people = [citizen() for _ in reports]
    for person, report in zip(people, reports):
        person.send("Start")
        if report == "refused":
            twilio_api.recipient_errors[person.number] = (400, 63003)
    broadcast_id = broadcast(app)
    with app.app_context():
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0
    sent = {message["To"]: message["sid"] for message in twilio_api.messages}
    sids = {}
    for person, report in zip(people, reports):
        sid = sids[person.number] = sent.get(f"whatsapp:{person.number}")
        if report in (None, "refused"):
            continue
        status, code = report
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID}
        if code:
            form["ErrorCode"] = code
        assert person.post_signed("/twilio/status", form).status_code == 200
    return broadcast_id, people, sids


def stored_sids(app):
    return {sid for (sid,) in rows(app, "SELECT sid FROM deliveries UNION "
                                        "SELECT sid FROM message_status") if sid}


def test_cleanup_forgets_the_sids_of_finished_broadcasts_and_keeps_the_counts(
        app, citizen, twilio_api):
    reports = [("delivered", None), ("read", None), ("undelivered", "63016"), ("sent", None),
               None, "refused"]
    broadcast_id, people, sids = send_and_report(app, citizen, twilio_api, reports)
    people[0].send("Stop")  # unlinked already, but its SID still leads to the number
    before = broadcasts.get(database(app).conn, broadcast_id)
    assert before["status"] == "done"
    assert before["counts"] == {"queued": 0, "sent": 2, "delivered": 1, "read": 1,
                                "failed": 2, "skipped": 0}
    assert before["errors"] == {"63016": 1, "63003": 1}
    sent_sids = {sid for sid in sids.values() if sid}
    assert len(sent_sids) == 5 and sent_sids <= stored_sids(app)
    consent_before = rows(app, "SELECT message_sid FROM consent_events ORDER BY id")

    young = retention.cleanup(database(app), app.config)
    assert young["delivery_sids_removed"] == 0 and sent_sids <= stored_sids(app)

    later = datetime.now(timezone.utc) + timedelta(days=31)
    counts = retention.cleanup(database(app), app.config, later)
    assert counts["delivery_sids_removed"] == 5
    assert counts["deliveries_unlinked"] == 5
    assert not sent_sids & stored_sids(app)
    after = broadcasts.get(database(app).conn, broadcast_id)
    assert (after["counts"], after["errors"]) == (before["counts"], before["errors"])
    # The consent proof keeps its MessageSid (time, MessageSid, keyword).
    assert rows(app, "SELECT message_sid FROM consent_events ORDER BY id") == consent_before
    assert all(sid.startswith("SM") for (sid,) in consent_before)
    # A second run finds nothing left to forget and changes no count.
    again = retention.cleanup(database(app), app.config, later)
    assert again["delivery_sids_removed"] == again["deliveries_unlinked"] == 0
    assert broadcasts.get(database(app).conn, broadcast_id)["counts"] == before["counts"]


def test_cleanup_keeps_the_sids_of_broadcasts_still_open(app, citizen, twilio_api):
    people = [citizen() for _ in range(2)]
    for person in people:
        person.send("Start")
    queued = broadcast(app)
    later = datetime.now(timezone.utc) + timedelta(days=31)
    counts = retention.cleanup(database(app), app.config, later)
    assert counts["delivery_sids_removed"] == counts["deliveries_unlinked"] == 0
    assert rows(app, "SELECT count(*) FROM deliveries WHERE broadcast_id = ? "
                     "AND subscriber_id IS NOT NULL", queued) == [(2,)]


def test_erase_forgets_the_citizens_sids_and_keeps_the_counts(app, citizen, twilio_api):
    broadcast_id, people, sids = send_and_report(
        app, citizen, twilio_api, [("read", None), ("delivered", None)])
    before = broadcasts.get(database(app).conn, broadcast_id)["counts"]
    privacy.erase(database(app).conn, app.extensions["infokanal"].vault, people[0].number)
    assert sids[people[0].number] not in stored_sids(app)
    assert sids[people[1].number] in stored_sids(app)
    assert broadcasts.get(database(app).conn, broadcast_id)["counts"] == before
