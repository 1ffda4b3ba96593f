"""A broadcast written under a larger limit than today's (before TEMPLATE_FIXED_CHARACTERS was
raised, or before the template's own words were counted at all) never reaches WhatsApp with a
text or translation over the template's room: sending the draft, approving it, editing the
planned one and resuming refuse it with the reason a new one would get, and a planned one that
becomes due is paused before anything goes out, until the press office shortens it.

Each test writes the broadcast under the old limit (TEMPLATE_FIXED_CHARACTERS=0 or 24) and then
starts the app again with the default (100, leaving 924 characters); the sender is the real one,
through the real twilio client, against the fake Twilio, which refuses an over-long body as
WhatsApp does (63021)."""

import re
import shutil
import sqlite3

import pytest

from bot import create_app
from bot.domain import announcements
from bot.store import broadcasts
from bot.store.db import connect
from tests.conftest import ADMIN_TOKEN, citizens_of, rows, scalar, time_bound
from tests.test_roles import (DATA_KEY, accounts_database, signed_in,  # noqa: F401 - fixture
                              version_on)

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SID = "HX" + "1" * 32
ROOM_NOW = 924  # 1,024 less the default TEMPLATE_FIXED_CHARACTERS (100)
TOO_LONG = "y" * 1000


@pytest.fixture
def upgraded(config, accounts_database):  # noqa: F811 - the imported fixture
    """(the app under the old limit, a function that starts it again with today's)."""
    shutil.copy(accounts_database, config["DATABASE_PATH"])
    settings = dict(config, DATA_KEY=DATA_KEY, BROADCAST_CONTENT_SID=SID, LANGUAGES="de,en",
                    APPROVAL_REQUIRED="1")
    old = create_app(dict(settings, TEMPLATE_FIXED_CHARACTERS=0))
    return old, lambda **more: create_app(dict(settings, **more))


def written(app, data, hold=None, created_by="test"):
    """A broadcast stored as the API or console stores it, under ``app``'s limit."""
    with app.app_context():
        return announcements.submit(connect(app.config["DATABASE_PATH"]), data, app.config,
                                    created_by=created_by, hold=hold)["id"]


def readers(app, english=1, german=1):
    citizen = citizens_of(app.test_client())
    for _ in range(english):
        assert citizen().send("Subscribe").status_code == 200
    for _ in range(german):
        assert citizen().send("Start").status_code == 200


def run_worker(app):
    with time_bound(60), app.app_context():
        result = app.test_cli_runner().invoke(args=["worker", "--until-idle"])
    assert result.exit_code == 0, result.output


def refusal(field, length):
    return (f"{field} is {length} characters; sent as the approved template it may have at "
            f"most {ROOM_NOW} (WhatsApp takes 1024")


def test_a_draft_with_a_translation_over_todays_limit_is_refused_at_send_and_stays_a_draft(
        upgraded, twilio_api):
    old, start = upgraded
    readers(old)
    draft = written(old, {"text": "Kurz", "translations": {"en": TOO_LONG}},
                    hold=broadcasts.DRAFT)
    new = start().test_client()
    answer = new.post(f"/api/broadcasts/{draft}/send", headers=AUTH)
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith(refusal("translations.en", 1000))
    assert rows(new.application, "SELECT status, recipients FROM broadcasts") == [("draft", 0)]
    assert scalar(new.application, "SELECT count(*) FROM deliveries") == 0
    assert [a for (a,) in rows(new.application, "SELECT action FROM audit_log "
                               "WHERE target LIKE 'broadcast:%'")] == ["broadcast_created"]
    run_worker(new.application)
    assert twilio_api.messages == []


def test_an_approval_of_a_translation_over_todays_limit_is_refused_and_it_still_waits(upgraded):
    old, start = upgraded
    waiting = written(old, {"text": "Kurz", "translations": {"en": TOO_LONG}},
                      hold=broadcasts.AWAITING, created_by="console:paul")
    new = start()
    petra = signed_in(new, "petra")
    page = f"/admin/broadcasts/{waiting}"
    answer = petra.post(f"{page}/approve", {"version": version_on(petra, page)},
                        token_page=page)
    assert answer.status_code == 302
    assert rows(new, "SELECT status, approved_by FROM broadcasts") == [
        ("awaiting_approval", None)]
    assert scalar(new, "SELECT count(*) FROM deliveries") == 0
    shown = petra.client.get(page).get_data(as_text=True)
    assert ("Die Übersetzung (en) hat 1.000 Zeichen; als freigegebene WhatsApp-Vorlage sind "
            "höchstens 924 erlaubt.") in shown


def test_editing_a_planned_broadcast_checks_the_translation_it_keeps(upgraded):
    old, start = upgraded
    planned = written(old, {"text": "Kurz", "translations": {"en": TOO_LONG},
                            "send_at": "2099-01-01T10:00:00+01:00"})
    new = start()
    with new.app_context(), pytest.raises(announcements.InvalidBroadcast,
                                          match=re.escape(refusal("translations.en", 1000))):
        # Only the time changes: the text, and with it the translation, stays.
        announcements.edit_scheduled(connect(new.config["DATABASE_PATH"]), planned,
                                     {"text": "Kurz", "send_at": "2099-01-02T10:00:00+01:00",
                                      "urgent": False},
                                     new.config, "petra")
    assert rows(new, "SELECT status, send_at FROM broadcasts") == [
        ("scheduled", "2099-01-01T09:00:00.000000Z")]


def becomes_due(app, broadcast_id):
    """The planned time comes: moved into the past, as the clock would move it."""
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        conn.execute("UPDATE broadcasts SET send_at = '2020-01-01T00:00:00Z' WHERE id = ?",
                     (broadcast_id,))


def test_a_planned_broadcast_over_todays_limit_is_paused_when_due_and_goes_out_once_shortened(
        upgraded, twilio_api):
    old, start = upgraded
    earlier = start(TEMPLATE_FIXED_CHARACTERS=24)  # the room was 1,000 then
    readers(earlier, english=1, german=2)
    planned = written(earlier, {"text": TOO_LONG, "send_at": "2099-01-01T10:00:00+01:00"})
    new = start()
    becomes_due(new, planned)
    run_worker(new)
    assert twilio_api.messages == [], "nothing went out"
    shown = new.test_client().get(f"/api/broadcasts/{planned}", headers=AUTH).get_json()
    assert shown["status"] == "paused"
    assert shown["pause_reason"] == f"text too long (text is 1000 characters, at most {ROOM_NOW})"
    assert scalar(new, "SELECT count(*) FROM deliveries") == 0
    # Resumed as it is, it stays paused: it still does not fit.
    resumed = new.test_client().post(f"/api/broadcasts/{planned}/resume", headers=AUTH)
    assert resumed.status_code == 400
    assert resumed.get_json()["error"].startswith(refusal("text", 1000))
    assert scalar(new, "SELECT status FROM broadcasts") == "paused"
    # The console says why in German and offers the planned broadcast's form to shorten it.
    petra = signed_in(new, "petra")
    page = f"/admin/broadcasts/{planned}"
    html = petra.client.get(page).get_data(as_text=True)
    assert "Der Text ist 1.000 Zeichen lang" in html and "höchstens 924" in html
    assert 'id="save-changes"' in html
    assert 'id="send_at" name="send_at" type="datetime-local" value=""' in html, "time past"
    edited = petra.post(f"{page}/edit", {"text": "Kürzer", "send_at": "", "expires_at": "",
                                         "media_url": "", "urgent": "1"}, token_page=page)
    assert edited.status_code == 302, edited.get_data(as_text=True)[:400]
    assert rows(new, "SELECT status, pause_reason, recipients FROM broadcasts") == [
        ("queued", None, 3)]
    run_worker(new)
    assert sorted(m["ContentSid"] for m in twilio_api.messages) == [SID] * 3
    assert twilio_api.refused == []
    assert scalar(new, "SELECT status FROM broadcasts") == "done"


def test_a_paused_planned_broadcast_resumes_once_the_limit_lets_it(upgraded, twilio_api):
    old, start = upgraded
    readers(old, english=2, german=1)
    planned = written(old, {"text": "Kurz", "translations": {"en": "y" * 950},
                            "send_at": "2099-01-01T10:00:00+01:00"})
    new = start()
    becomes_due(new, planned)
    run_worker(new)
    assert scalar(new, "SELECT pause_reason FROM broadcasts") == (
        f"text too long (translations.en is 950 characters, at most {ROOM_NOW})")
    html = signed_in(new, "petra").client.get(f"/admin/broadcasts/{planned}").get_data(
        as_text=True)
    assert "Die Übersetzung (en) ist 950 Zeichen lang" in html
    assert twilio_api.messages == []
    # The operator finds the template's own words take fewer characters than was set (the
    # fake's template has 60).
    fixed = start(TEMPLATE_FIXED_CHARACTERS=64)
    resumed = fixed.test_client().post(f"/api/broadcasts/{planned}/resume", headers=AUTH)
    assert resumed.status_code == 200, resumed.get_json()
    assert resumed.get_json()["status"] == "queued"
    run_worker(fixed)
    assert len(twilio_api.messages) == 3 and twilio_api.refused == []
    assert scalar(fixed, "SELECT status FROM broadcasts") == "done"
