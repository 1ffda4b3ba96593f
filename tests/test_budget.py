"""The month's spending and the monthly budget: what was delivered, by the category of the
template it went with, and answers to citizens, priced; through signed webhooks, the worker
against the fake Twilio, and a real database."""

import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bot import create_app
from bot.config import ConfigError
from bot.domain import costs
from tests.conftest import ADMIN_TOKEN, citizens_of, csrf_from, database, rows, scalar
from tests.fake_nina import ARS, fake_nina, nina_api  # noqa: F401 - fixtures
from tests.test_meta_sending import fake_meta, fake_meta_server, run_on_meta  # noqa: F401
from tests.test_reply_sending import queue_answer
from tests.test_approval import approve, compose_and_send, subscribe
from tests.test_roles import (DATA_KEY, accounts_database, make, signed_in,  # noqa: F401
                              version_on)
from tests.test_warnings_relay import poll

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PRICES = {"LANGUAGES": "de,en", "TEMPLATE_CATEGORY_EN": "utility", "PRICE_MARKETING": "0.1",
          "PRICE_UTILITY": "0.04", "PRICE_SERVICE": "0.01", "PLATFORM_FEE": "0.005"}


@pytest.fixture
def app(config):
    return create_app(dict(config, **PRICES))


def run_worker(app):
    with app.app_context():
        assert app.test_cli_runner().invoke(args=["worker", "--until-idle"]).exit_code == 0


def spent(app, settings=None, now=None):
    return costs.month_spent(database(app).conn, settings or app.config, now=now)


def report(person, app, broadcast_id, *statuses):
    """The platform reports statuses of the message a citizen got, signed as Twilio signs."""
    vault = app.extensions["infokanal"].vault
    (sid,) = rows(app, "SELECT d.sid FROM deliveries d JOIN subscribers s "
                       "ON s.id = d.subscriber_id WHERE s.phone_hash = ? AND d.broadcast_id = ?",
                  vault.hash(person.number), broadcast_id)[0]
    for status in statuses:
        assert person.post_signed("/twilio/status", {"MessageSid": sid,
                                                     "MessageStatus": status}).status_code == 200


def test_the_month_is_what_was_delivered_by_its_category_and_the_answers(app, client,
                                                                          citizen):
    erika, max_, sam = citizen(), citizen(), citizen()
    for person in (erika, max_, sam):
        person.send("Start")
    sam.send("English")  # four answers so far, in the webhook's TwiML
    assert spent(app) == 4 * Decimal("0.015")
    broadcast_id = client.post("/api/broadcasts", json={"text": "Probealarm"},
                               headers=AUTH).json["id"]
    run_worker(app)
    report(erika, app, broadcast_id, "sent", "delivered", "read")  # delivered once
    report(sam, app, broadcast_id, "delivered")  # an English template: utility
    report(max_, app, broadcast_id, "sent")  # accepted, never reported delivered: not charged
    expected = Decimal("0.105") + Decimal("0.045") + 4 * Decimal("0.015")
    assert spent(app) == expected
    # The categories stay those the messages went with, whatever the configuration says now.
    changed = dict(app.config, TEMPLATE_CATEGORY="utility",
                   TEMPLATE_CATEGORIES={None: "utility", "de": "utility", "en": "utility"})
    assert spent(app, changed) == expected
    # The month is the local one: the next one has nothing yet, this one at its last hour all.
    now = datetime.now(timezone.utc)
    assert spent(app, now=now + timedelta(days=32)) == 0
    assert rows(app, "SELECT category, sum(n) FROM message_usage GROUP BY category") == [
        ("marketing", 1), ("service", 4), ("utility", 1)]


def test_an_answer_the_worker_sends_on_meta_counts_once_it_went(app, fake_meta):  # noqa: F811
    queue_answer(app)
    refused, _ = queue_answer(app)
    fake_meta.recipient_errors = {refused[1:]: [400, 131026]}  # not on WhatsApp: never sent
    assert spent(app) == 0, "queued is not sent"
    run_on_meta(app, fake_meta)
    assert spent(app) == Decimal("0.015")
    assert rows(app, "SELECT broadcast_id, category, n FROM message_usage") == [(0, "service", 1)]


def test_the_audience_pages_month_is_the_reports(app, client, citizen, console):
    deliver_a_month(app, client, citizen)
    page = console.client.get("/admin/audience").get_data(as_text=True)
    # Two broadcast messages delivered and four answers: 0.105 + 0.045 + 4 × 0.015.
    assert "In diesem Monat bisher: ca. 0,21 € für 6 Nachrichten" in page


def test_a_category_without_a_price_counts_nothing(app, client, citizen):
    erika = citizen()
    erika.send("Start")
    broadcast_id = client.post("/api/broadcasts", json={"text": "Probealarm"},
                               headers=AUTH).json["id"]
    run_worker(app)
    report(erika, app, broadcast_id, "delivered")
    unpriced = dict(app.config, PRICES=dict(app.config["PRICES"], marketing=None))
    assert spent(app, unpriced) == Decimal("0.015")


# --- the budget hold ------------------------------------------------------------------------

# Three citizens subscribe (three answers: 0.045); a broadcast to them costs 3 × 0.105.
OVER = "0.2"


@pytest.fixture
def budgeted(config, accounts_database):  # noqa: F811 - the imported fixture
    def start(budget, **more):
        shutil.copy(accounts_database, config["DATABASE_PATH"])
        app = create_app(dict(config, DATA_KEY=DATA_KEY, MONTHLY_BUDGET=budget, **PRICES,
                              **more))
        subscribe(app)
        return app
    return start


def audited(app, broadcast_id):
    """[(actor, action, details)] of a broadcast's audit entries, in order."""
    return [(actor, action, json.loads(details)) for actor, action, details in rows(
        app, "SELECT actor, action, details FROM audit_log WHERE target = ? ORDER BY id",
        f"broadcast:{broadcast_id}")]


def test_a_broadcast_over_the_budget_waits_for_an_admin_in_the_console(budgeted):
    app = budgeted(OVER)
    paul = signed_in(app, "paul")
    broadcast_id, confirm = compose_and_send(paul, "Sperrung der Kreisstraße 12")
    assert 'id="budget-note"' in confirm and "Der Administration zur Freigabe vorlegen" in confirm
    assert "Jetzt senden" not in confirm
    assert rows(app, "SELECT status, over_budget FROM broadcasts") == [("awaiting_approval", 1)]
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0, "nobody gets it yet"
    page = f"/admin/broadcasts/{broadcast_id}"
    # Another publisher may not approve it: no button, and the server refuses.
    petra = signed_in(app, "petra")
    shown = petra.client.get(page).get_data(as_text=True)
    assert 'id="approve"' not in shown and 'id="budget-hold"' in shown
    assert "über dem Monatsbudget" in petra.client.get("/admin").get_data(as_text=True)
    anna = signed_in(app, "anna")
    refused = petra.post(f"{page}/approve", {"version": version_on(anna, page)},
                         token_page=page)
    assert refused.status_code == 403 and "Administration" in refused.get_data(as_text=True)
    assert scalar(app, "SELECT status FROM broadcasts") == "awaiting_approval"
    assert approve(anna, page).status_code == 302
    assert rows(app, "SELECT status, approved_by, recipients, over_budget FROM broadcasts") == [
        ("queued", "anna", 3, 1)]
    trail = audited(app, broadcast_id)
    assert [(actor, action) for actor, action, _ in trail] == [
        ("paul", "broadcast_created"), ("anna", "broadcast_approved")]
    for _, _, details in trail:
        assert details["over_budget"] is True
        assert (details["month_spent"], details["cost"], details["budget"]) == (
            "0.0450", "0.3150", "0.2000")
    assert trail[0][2]["status"] == "awaiting_approval"


def test_a_publishers_plain_send_over_the_budget_waits_all_the_same(budgeted):
    """The confirmation offers no "Jetzt senden"; a send posted anyway (an older page, the
    month spent meanwhile) waits as well: the domain decides, not the button."""
    app = budgeted(OVER)
    paul = signed_in(app, "paul")
    confirm = paul.post("/admin/compose", {"text": "Sperrung"}).get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', confirm).group(1)
    response = paul.client.post("/admin/compose", data=dict(
        csrf_token=csrf_from(confirm), text="Sperrung", nonce=nonce, action="send"))
    assert response.status_code == 302
    assert rows(app, "SELECT status, over_budget FROM broadcasts") == [("awaiting_approval", 1)]


def test_an_admin_sends_over_the_budget_knowingly_and_it_is_marked(budgeted):
    app = budgeted(OVER)
    anna = signed_in(app, "anna")
    broadcast_id, confirm = compose_and_send(anna, "Sperrung der Kreisstraße 12")
    assert 'id="budget-note"' in confirm and "Jetzt senden" in confirm
    assert rows(app, "SELECT status, over_budget FROM broadcasts") == [("queued", 1)]
    [(actor, action, details)] = audited(app, broadcast_id)
    assert (actor, action, details["over_budget"]) == ("anna", "broadcast_created", True)


def test_an_urgent_broadcast_over_the_budget_goes_and_is_flagged(budgeted):
    app = budgeted(OVER)
    paul = signed_in(app, "paul")
    broadcast_id, confirm = compose_and_send(paul, "Hochwasser: Deich gebrochen", urgent="1")
    assert "Eilmeldungen werden trotzdem sofort gesendet" in confirm
    assert rows(app, "SELECT status, over_budget, recipients FROM broadcasts") == [
        ("queued", 1, 3)]
    page = paul.client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "über dem Monatsbudget" in page
    assert "über dem Monatsbudget" in paul.client.get("/admin").get_data(as_text=True)
    [(actor, action, details)] = audited(app, broadcast_id)
    assert (actor, action, details["status"], details["over_budget"]) == (
        "paul", "broadcast_created", "queued", True)
    audit_page = signed_in(app, "anna").client.get("/admin/audit").get_data(as_text=True)
    assert "über dem Monatsbudget" in audit_page


def test_the_api_token_sends_over_the_budget_with_a_warning(budgeted):
    app = budgeted(OVER)
    answer = app.test_client().post("/api/broadcasts", json={"text": "Probealarm"},
                                    headers=AUTH)
    assert answer.status_code == 202
    assert answer.json["status"] == "queued" and answer.json["over_budget"] is True
    # The plan's warning, the one source of the API's warnings.
    assert "over_budget" in answer.json["plan"]["warning_codes"]
    [warning] = [w for w in answer.json["warnings"] if "Monatsbudget" in w]
    assert "Monatsbudget von 0,20 €" in warning
    [(actor, _, details)] = audited(app, answer.json["id"])
    assert actor == "api" and details["over_budget"] is True
    shown = app.test_client().get(f"/api/broadcasts/{answer.json['id']}", headers=AUTH).json
    assert shown["over_budget"] is True


def test_within_the_budget_nothing_waits_and_nothing_is_marked(budgeted):
    app = budgeted("100")
    paul = signed_in(app, "paul")
    broadcast_id, confirm = compose_and_send(paul, "Sperrung der Kreisstraße 12")
    assert 'id="budget-note"' not in confirm
    assert rows(app, "SELECT status, over_budget FROM broadcasts") == [("queued", 0)]
    [(_, _, details)] = audited(app, broadcast_id)
    assert "over_budget" not in details
    answer = app.test_client().post("/api/broadcasts", json={"text": "x"}, headers=AUTH).json
    assert answer["over_budget"] is False and answer["warnings"] == []


def test_a_draft_sent_over_the_budget_by_a_publisher_waits_for_an_admin(budgeted):
    app = budgeted(OVER)
    broadcast_id = make(app, "draft")
    paul = signed_in(app, "paul")
    page = f"/admin/broadcasts/{broadcast_id}"
    response = paul.post(f"{page}/draft", {"text": "Entwurf", "action": "send"}, token_page=page)
    assert response.status_code == 302
    assert rows(app, "SELECT status, over_budget FROM broadcasts WHERE id = ?",
                broadcast_id) == [("awaiting_approval", 1)]
    assert [action for _, action, _ in audited(app, broadcast_id)][-1] == (
        "broadcast_approval_requested")


def test_an_approval_that_would_take_the_month_over_the_budget_needs_an_admin(budgeted,
                                                                              config):
    """Asked for within the budget; by the time it is approved, the month is over it (here:
    a smaller budget): a second publisher cannot approve it, an admin can."""
    app = budgeted("100", APPROVAL_REQUIRED="1")
    broadcast_id, _ = compose_and_send(signed_in(app, "paul"), "Sperrung")
    assert rows(app, "SELECT status, over_budget FROM broadcasts") == [("awaiting_approval", 0)]
    tight = create_app(dict(config, DATA_KEY=DATA_KEY, MONTHLY_BUDGET=OVER,
                            APPROVAL_REQUIRED="1", **PRICES))
    page = f"/admin/broadcasts/{broadcast_id}"
    # The page judges it as the month stands now, not by the mark of when it was asked for.
    petra, anna = signed_in(tight, "petra"), signed_in(tight, "anna")
    shown = petra.client.get(page).get_data(as_text=True)
    assert 'id="approve"' not in shown and 'id="budget-hold"' in shown
    refused = petra.post(f"{page}/approve", {"version": version_on(anna, page)},
                         token_page=page)
    assert refused.status_code == 403 and "Monatsbudget" in refused.get_data(as_text=True)
    assert scalar(tight, "SELECT status FROM broadcasts") == "awaiting_approval"
    assert approve(anna, page).status_code == 302
    assert rows(tight, "SELECT status, over_budget FROM broadcasts") == [("queued", 1)]
    [*_, (actor, action, details)] = audited(tight, broadcast_id)
    assert (actor, action, details["over_budget"]) == ("anna", "broadcast_approved", True)


def test_a_planned_urgent_broadcast_made_ordinary_over_the_budget_waits_for_an_admin(budgeted):
    """Urgent, it went past the budget; no longer urgent, it is held as a new one would be."""
    app = budgeted(OVER)
    paul = signed_in(app, "paul")
    broadcast_id, _ = compose_and_send(paul, "Termin", urgent="1", send_at="2099-06-01T10:00")
    assert rows(app, "SELECT status, over_budget FROM broadcasts") == [("scheduled", 1)]
    page = f"/admin/broadcasts/{broadcast_id}"
    paul.post(f"{page}/edit", {"text": "Termin", "send_at": "2099-06-01T10:00"},
              token_page=page)
    assert rows(app, "SELECT status, urgent, requested_by FROM broadcasts") == [
        ("awaiting_approval", 0, "paul")]
    [*_, (actor, action, details)] = audited(app, broadcast_id)
    assert (actor, action, details["over_budget"]) == ("paul", "broadcast_edited", True)


def test_a_relayed_warning_over_the_budget_goes_and_is_flagged(budgeted, nina_api):  # noqa: F811
    app = budgeted(OVER, WARNINGS_ARS=ARS, WARNINGS_API_URL=nina_api.url,
                   WARNINGS_POLL_SECONDS=0.2, WARNINGS_TIMEOUT_SECONDS=0.5)
    nina_api.add(severity="Severe")
    poll(app)
    [(broadcast_id, status, over_budget)] = rows(
        app, "SELECT id, status, over_budget FROM broadcasts WHERE created_by = 'nina'")
    assert (status, over_budget) == ("queued", 1)
    [(actor, action, details)] = audited(app, broadcast_id)
    assert (actor, action, details["over_budget"]) == ("nina", "warning_relayed", True)


# --- what is on its way counts too ------------------------------------------------------------

def plan_of(app, **body):
    answer = app.test_client().post("/api/broadcasts/plan", json={"text": "Probe", **body},
                                    headers=AUTH)
    assert answer.status_code == 200, answer.json
    return answer.json["month"]


def test_broadcasts_going_out_count_before_they_are_delivered(budgeted):
    """Two sends in a row, each alone within the budget: the first, queued and not delivered
    yet, counts when the second is judged, so the second is over it."""
    app = budgeted("0.5")  # three subscribers (three answers, 0.045); a broadcast: 0.315
    api = app.test_client()
    first = api.post("/api/broadcasts", json={"text": "Erste"}, headers=AUTH).json
    assert (first["status"], first["over_budget"]) == ("queued", False)
    assert first["plan"]["month"]["committed"] == 0.0
    second = api.post("/api/broadcasts", json={"text": "Zweite"}, headers=AUTH).json
    assert second["over_budget"] is True
    assert second["plan"]["month"] == {"spent": 0.045, "committed": 0.315, "budget": 0.5,
                                       "after": 0.675, "calendar_month": this_month()}
    # A publisher's third in the console waits for an admin.
    compose_and_send(signed_in(app, "paul"), "Dritte")
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = 3") == "awaiting_approval"
    # What waits for approval is not committed; the two queued are.
    assert plan_of(app)["committed"] == 0.63


def test_what_is_on_its_way_counts_by_its_category_and_leaves_once_delivered(app, client,
                                                                             citizen):
    erika, sam = citizen(), citizen()
    erika.send("Start"), sam.send("Start"), sam.send("English")  # three answers: 0.045
    broadcast_id = client.post("/api/broadcasts", json={"text": "Probealarm"},
                               headers=AUTH).json["id"]
    # Queued: erika's at marketing (0.105), sam's English template at utility (0.045).
    assert plan_of(app)["committed"] == 0.15
    run_worker(app)
    # Sent (the platform took both) while the broadcast is still going out, as the worker
    # leaves it between batches of a large one: committed until reported delivered.
    with database(app).conn as conn:
        conn.execute("UPDATE broadcasts SET status = 'sending' WHERE id = ?", (broadcast_id,))
    assert plan_of(app)["committed"] == 0.15
    report(sam, app, broadcast_id, "delivered")
    month = plan_of(app)
    assert (month["spent"], month["committed"]) == (0.09, 0.105)


def test_a_finished_broadcast_counts_until_its_receipts_arrive(budgeted):
    """The sender marks a broadcast done once the platform took every message; their
    receipts, and the charge, come later. Until then they stay committed, so that the next
    broadcast is judged with them."""
    app = budgeted("0.5")  # three subscribers (three answers, 0.045); a broadcast: 0.315
    api = app.test_client()
    first = api.post("/api/broadcasts", json={"text": "Erste"}, headers=AUTH).json
    run_worker(app)  # the real sender against the fake platform: all taken, no receipts
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = ?", first["id"]) == "done"
    assert plan_of(app)["committed"] == 0.315
    second = api.post("/api/broadcasts", json={"text": "Zweite"}, headers=AUTH).json
    assert second["over_budget"] is True
    assert second["plan"]["month"]["committed"] == 0.315
    # Receipts in: spent, no longer committed (the second is queued, and counts).
    with database(app).conn as conn:
        conn.execute("UPDATE deliveries SET receipt = 'delivered', receipt_rank = 3, "
                     "receipt_at = ? WHERE broadcast_id = ?",
                     ("2000-01-01T00:00:00.000000Z", first["id"]))
    month = plan_of(app)
    assert month["committed"] == 0.315 and month["spent"] > 0.045
    # One finished in a month before this one is that month's, whatever it still waits for.
    with database(app).conn as conn:
        conn.execute("UPDATE deliveries SET receipt = NULL, receipt_rank = NULL, "
                     "receipt_at = NULL WHERE broadcast_id = ?", (first["id"],))
        conn.execute("UPDATE broadcasts SET finished_at = '2000-01-31T12:00:00.000000Z' "
                     "WHERE id = ?", (first["id"],))
    assert plan_of(app)["committed"] == 0.315


def test_two_broadcasts_sent_at_the_same_moment_do_not_both_pass_the_budget(budgeted,
                                                                           monkeypatch):
    """The plan is read before the write lock; another broadcast committed between the two
    (sent at the same moment) is counted when this one is judged, inside the lock: its mark,
    its answer's warning and its plan's month follow the month as it is then."""
    from bot.domain import announcements, plan
    from bot.web.database import get_db

    app = budgeted("0.5")  # three subscribers (three answers, 0.045); a broadcast: 0.315
    read_plan = plan.of
    other = []

    def plan_then_another_is_sent(conn, settings, fields, now=None):
        found = read_plan(conn, settings, fields, now)
        if not other:  # the first submit's plan is read; then the other one goes
            other.append(None)
            other[0] = announcements.submit(get_db(), {"text": "Gleichzeitig"}, settings,
                                            created_by="api")
        return found

    monkeypatch.setattr(plan, "of", plan_then_another_is_sent)
    with app.app_context():
        answer = announcements.submit(get_db(), {"text": "Zweite"}, app.config,
                                      created_by="api")
    assert other[0]["over_budget"] is False and other[0]["plan"]["month"]["committed"] == 0.0
    assert answer["over_budget"] is True
    assert answer["plan"]["month"]["committed"] == 0.315
    assert answer["plan"]["month"]["after"] == 0.675
    assert "over_budget" in answer["plan"]["warning_codes"]
    assert any("Monatsbudget" in warning for warning in answer["warnings"])
    assert rows(app, "SELECT text, over_budget FROM broadcasts ORDER BY id") == [
        ("Gleichzeitig", 0), ("Zweite", 1)]
    [(_, _, details)] = audited(app, answer["id"])
    assert details["over_budget"] is True and details["month_committed"] == "0.3150"


def test_a_publishers_broadcast_judged_on_a_stale_month_waits_for_an_admin(budgeted,
                                                                           monkeypatch):
    """The same in the console: a publisher's broadcast that the month as the lock leaves
    it takes over the budget waits for an admin, though its plan said it fitted."""
    from bot.domain import announcements, plan
    from bot.web.database import get_db

    app = budgeted("0.5")
    read_plan = plan.of
    sent = []

    def plan_then_another_is_sent(conn, settings, fields, now=None):
        found = read_plan(conn, settings, fields, now)
        if not sent and fields["text"] == "Sperrung":
            sent.append(announcements.submit(get_db(), {"text": "Gleichzeitig"}, settings,
                                             created_by="api"))
        return found

    monkeypatch.setattr(plan, "of", plan_then_another_is_sent)
    with app.app_context():
        answer = announcements.submit(get_db(), {"text": "Sperrung"}, app.config,
                                      created_by="console:paul", admin=False)
    assert (answer["status"], answer["over_budget"]) == ("awaiting_approval", True)


def test_a_scheduled_broadcast_counts_in_the_month_it_goes_out_in(budgeted):
    app = budgeted("0.35")  # this month: 0.045 spent; a broadcast: 0.315
    api = app.test_client()
    assert plan_of(app)["after"] == 0.36, "this month it would be over"
    june = api.post("/api/broadcasts", json={"text": "Juni", "send_at": "2099-06-01T10:00"},
                    headers=AUTH).json
    # Judged against June 2099, which has spent nothing: within the budget.
    assert (june["status"], june["over_budget"], june["warnings"]) == ("scheduled", False, [])
    assert june["plan"]["month"] == {"spent": 0.0, "committed": 0.0, "budget": 0.35,
                                     "after": 0.315, "calendar_month": "2099-06"}
    # Edited, a scheduled broadcast is judged without itself: it still fits alone.
    paul = signed_in(app, "paul")
    page = f"/admin/broadcasts/{june['id']}"
    paul.post(f"{page}/edit", {"text": "Juni, geändert", "send_at": "2099-06-01T10:00"},
              token_page=page)
    assert rows(app, "SELECT status, over_budget FROM broadcasts WHERE id = ?", june["id"]) == [
        ("scheduled", 0)]
    # A second for June finds the first there; July and this month do not.
    second = api.post("/api/broadcasts", json={"text": "Juni 2", "send_at": "2099-06-20T10:00"},
                      headers=AUTH).json
    assert second["over_budget"] is True and second["plan"]["month"]["committed"] == 0.315
    [warning] = second["warnings"]
    assert "danach sind im Monat 06/2099 etwa 0,63 € ausgegeben oder schon verplant" in warning
    assert plan_of(app, send_at="2099-07-01T10:00")["committed"] == 0.0
    assert plan_of(app)["committed"] == 0.0


def test_a_scheduled_broadcast_counts_the_recipients_it_stored_at_its_dearest_category(
        config):
    """A scheduled broadcast is committed with the recipients it counted when scheduled, not
    its audience counted again (many of them made every plan slower); one whose languages'
    templates differ in category at the dearest of them: an estimate that errs upwards."""
    # German (the main language, all three subscribers) at utility, English at marketing.
    app = create_app(dict(config, **dict(PRICES, TEMPLATE_CATEGORY="utility",
                                         TEMPLATE_CATEGORY_EN="marketing"),
                          MONTHLY_BUDGET="100"))
    subscribe(app)
    api = app.test_client()
    june = api.post("/api/broadcasts", json={"text": "Juni", "send_at": "2099-06-01T10:00"},
                    headers=AUTH).json
    assert june["recipients"] == 3 and june["plan"]["cost"]["total"] == 0.135
    assert plan_of(app, send_at="2099-06-20T10:00")["committed"] == 0.315  # 3 × 0.105
    # Three more subscribe: the stored count stands until the broadcast is edited.
    subscribe(app)
    assert plan_of(app, send_at="2099-06-20T10:00")["committed"] == 0.315


def test_the_budget_mark_is_the_latest_verdict(budgeted, config):
    """Asked for over the budget; the budget raised since, a publisher may approve it, and
    the mark goes with the verdict that made it."""
    app = budgeted(OVER)
    broadcast_id, _ = compose_and_send(signed_in(app, "paul"), "Sperrung")
    assert rows(app, "SELECT status, over_budget FROM broadcasts") == [("awaiting_approval", 1)]
    raised = create_app(dict(config, DATA_KEY=DATA_KEY, MONTHLY_BUDGET="100", **PRICES))
    page = f"/admin/broadcasts/{broadcast_id}"
    petra = signed_in(raised, "petra")
    shown = petra.client.get(page).get_data(as_text=True)
    assert 'id="approve"' in shown and 'id="budget-hold"' not in shown
    assert approve(petra, page).status_code == 302
    assert rows(raised, "SELECT status, over_budget FROM broadcasts") == [("queued", 0)]
    assert "über dem Monatsbudget" not in petra.client.get(page).get_data(as_text=True)
    [*_, (actor, action, details)] = audited(raised, broadcast_id)
    assert (actor, action, "over_budget" in details) == ("petra", "broadcast_approved", False)


# --- the month in numbers -------------------------------------------------------------------

def deliver_a_month(app, client, citizen):
    """Three subscribers (four answers), one broadcast delivered to two of them (one German,
    marketing; one English, utility) and accepted for the third. Returns the broadcast's id
    and the people."""
    erika, max_, sam = citizen(), citizen(), citizen()
    for person in (erika, max_, sam):
        person.send("Start")
    sam.send("English")
    broadcast_id = client.post("/api/broadcasts", json={"text": "Probealarm"},
                               headers=AUTH).json["id"]
    run_worker(app)
    report(erika, app, broadcast_id, "delivered", "read")
    report(sam, app, broadcast_id, "delivered")
    report(max_, app, broadcast_id, "sent")
    return broadcast_id, (erika, max_, sam)


def this_month():
    from bot.domain import month_report

    return "%04d-%02d" % month_report.this_month({"TIMEZONE": "Europe/Berlin"})


def test_the_api_answers_the_month_in_numbers(app, client, citizen):
    broadcast_id, people = deliver_a_month(app, client, citizen)
    answer = client.get(f"/api/costs?month={this_month()}", headers=AUTH)
    assert answer.status_code == 200
    found = answer.json
    assert found["month"] == this_month() and found["currency"] == "EUR"
    assert found["delivered"] == {"marketing": 1, "utility": 1, "service": 4}
    [row] = found["broadcasts"]
    assert row["id"] == broadcast_id and row["delivered"] == {"marketing": 1, "utility": 1}
    assert row["messages"] == 2 and row["cost"] == 0.15 and row["over_budget"] is False
    assert found["replies"] == {"messages": 4, "cost": 0.06}
    assert found["total"] == 0.21 and found["unpriced"] == 0
    assert found["budget"] is None and found["remaining"] is None
    assert client.get("/api/costs", headers=AUTH).json == found, "default: this month"
    # Counts only: no number and no hash anywhere in it.
    text = answer.get_data(as_text=True)
    vault = app.extensions["infokanal"].vault
    for person in people:
        assert person.number.lstrip("+") not in text and vault.hash(person.number) not in text
    empty = client.get("/api/costs?month=2020-01", headers=AUTH).json
    assert (empty["broadcasts"], empty["total"], empty["replies"]["messages"]) == ([], 0.0, 0)


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "26-12", "2026/12", "", "1999-12",
                                   "2026-12-01", "dezember"])
def test_a_bad_month_is_a_400_with_a_plain_reason(client, month):
    answer = client.get("/api/costs", query_string={"month": month}, headers=AUTH)
    assert answer.status_code == 400 and "month" in answer.json["error"]


def test_the_month_needs_the_token(client):
    assert client.get("/api/costs").status_code == 401


def test_the_month_against_the_budget(config, client):
    app = create_app(dict(config, MONTHLY_BUDGET="0.1", **PRICES))
    people = citizens_of(app.test_client())
    people().send("Start")
    found = app.test_client().get("/api/costs", headers=AUTH).json
    assert (found["total"], found["budget"], found["remaining"]) == (0.015, 0.1, 0.085)


def test_the_console_page_shows_the_month_to_publishers_and_admins(budgeted):
    app = budgeted("100")
    app.test_client().post("/api/broadcasts", json={"text": "x"}, headers=AUTH)
    anna = signed_in(app, "anna")
    page = anna.client.get("/admin/costs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'value="{this_month()}"' in html
    replies = html[html.index('id="replies-row"'):]
    assert '<td data-label="Nachrichten" class="number">3</td>' in replies[:600]
    assert "Monatsbudget von 100,00 €" in html and 'href="/admin/costs"' in html
    other = anna.client.get("/admin/costs?month=2020-01").get_data(as_text=True)
    assert 'id="nothing"' in other and "Kosten im Monat 2020-01" in other
    bad = anna.client.get("/admin/costs?month=2020-13")
    assert bad.status_code == 400 and 'id="month-error"' in bad.get_data(as_text=True)
    assert signed_in(app, "paul").client.get("/admin/costs").status_code == 200
    erika = signed_in(app, "erika")
    assert erika.client.get("/admin/costs").status_code == 403
    assert 'href="/admin/costs"' not in erika.client.get("/admin").get_data(as_text=True)


def test_the_command_prints_the_month_and_its_csv(app, client, citizen):
    broadcast_id, _ = deliver_a_month(app, client, citizen)
    runner = app.test_cli_runner()
    table = runner.invoke(args=["costs", "report", "--month", this_month()])
    assert table.exit_code == 0, table.output
    assert f"Month {this_month()}" in table.output and "0.2100" in table.output
    as_csv = runner.invoke(args=["costs", "report", "--month", this_month(), "--csv"])
    assert as_csv.exit_code == 0, as_csv.output
    lines = as_csv.output.strip().splitlines()
    assert lines[0] == ("row,broadcast,started_at,urgent,over_budget,marketing,utility,service,"
                        "messages,cost,currency")
    assert lines[1].startswith(f"broadcast,{broadcast_id},") and lines[1].endswith(
        ",0,0,1,1,0,2,0.1500,EUR")
    assert lines[2] == "replies,,,,,0,0,4,4,0.0600,EUR"
    assert lines[3] == "total,,,,,1,1,4,6,0.2100,EUR"
    bad = runner.invoke(args=["costs", "report", "--month", "2026-13"])
    assert bad.exit_code == 2 and "month" in bad.output


# --- the budget setting ---------------------------------------------------------------------

@pytest.mark.parametrize("value", ["5.000", "12.500", "1.000.000"])
def test_a_budget_written_with_a_thousands_point_is_refused_with_how_to_write_it(config, value):
    """German writes five thousand "5.000": read as a decimal point it would be five euros."""
    with pytest.raises(ConfigError, match=r"MONTHLY_BUDGET .*5000 or 5000,00"):
        create_app(dict(config, MONTHLY_BUDGET=value))


@pytest.mark.parametrize("value, budget", [("5000", Decimal("5000")),
                                           ("5000,00", Decimal("5000.00")),
                                           ("5000,50", Decimal("5000.50")),
                                           ("150.5", Decimal("150.5")),
                                           ("99.99", Decimal("99.99"))])
def test_a_budget_with_a_decimal_comma_or_point_is_read_as_written(config, value, budget):
    assert create_app(dict(config, MONTHLY_BUDGET=value)).config["MONTHLY_BUDGET"] == budget
