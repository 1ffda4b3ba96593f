"""GET /metrics: the service's state for Prometheus, from the database, behind a token, and
counts only."""

import sqlite3
from datetime import datetime, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import create_app
from bot.store import broadcasts, deliveries, statuses
from bot.store.db import write
from bot.platforms.twilio import StatusUpdate
from tests.conftest import ADMIN_TOKEN, broadcast, database, free_port, rows, wait_for

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def samples(text):
    """{(name, labels as sorted tuples): value} of a scrape."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(client, headers=AUTH):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return samples(response.get_data(as_text=True))


def value(found, name, **labels):
    return found[(name, tuple(sorted(labels.items())))]


# --- access ----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": f"Basic {ADMIN_TOKEN}"},
                                     {"Authorization": "Bearer "}])
def test_metrics_refuse_a_request_without_the_token(client, headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "infokanal_" not in response.get_data(as_text=True)


def test_metrics_token_when_set_is_the_only_one_that_opens_them(config):
    app = create_app(dict(config, METRICS_TOKEN="only-for-the-monitoring"))
    client = app.test_client()
    assert client.get("/metrics", headers=AUTH).status_code == 401
    assert client.get("/metrics", headers={
        "Authorization": "Bearer only-for-the-monitoring"}).status_code == 200
    # The API keeps its own token.
    assert client.get("/api/stats", headers={
        "Authorization": "Bearer only-for-the-monitoring"}).status_code == 401


def test_metrics_answer_openmetrics_when_the_scraper_asks_for_it(client):
    response = client.get("/metrics", headers=dict(
        AUTH, Accept="application/openmetrics-text; version=1.0.0"))
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")
    classic = client.get("/metrics", headers=AUTH)
    assert classic.headers["Content-Type"].startswith("text/plain")


# --- what they say ---------------------------------------------------------------------------

def test_subscribers_webhook_outcomes_and_the_queue_are_counted(app, client, citizen):
    people = [citizen() for _ in range(3)]
    for person in people:
        assert person.send("Start").status_code == 200
    replay = people[0].params("Hallo")
    people[0].post_signed("/twilio/messages", replay)
    people[0].post_signed("/twilio/messages", replay)  # the platform's retry: a duplicate
    assert people[1].post_signed("/twilio/messages", people[1].params("Start"),
                                 signature="forged").status_code == 403
    assert people[2].post_signed("/twilio/messages", people[2].params(
        "Start", From="whatsapp:nonsense")).status_code == 400
    broadcast(app, "Probealarm")

    found = scrape(client)
    assert value(found, "infokanal_subscribers") == 3
    assert value(found, "infokanal_queue_depth") == 3
    assert value(found, "infokanal_broadcasts", status="queued") == 1
    assert value(found, "infokanal_broadcasts", status="done") == 0
    requests = {labels: v for (name, labels), v in found.items()
                if name == "infokanal_webhook_requests_total"}
    assert requests == {
        (("outcome", "accepted"), ("webhook", "messages")): 4,
        (("outcome", "duplicate"), ("webhook", "messages")): 1,
        (("outcome", "forbidden"), ("webhook", "messages")): 1,
        (("outcome", "invalid"), ("webhook", "messages")): 1,
        (("outcome", "accepted"), ("webhook", "status")): 0,
        # Twilio's Event Streams sink, from the start at 0 like the others.
        **{(("outcome", outcome), ("webhook", "events")): 0
           for outcome in ("accepted", "duplicate", "forbidden", "invalid")},
    }


def _send(app, broadcast_id, sids):
    """What the sender does: claim the deliveries, record them as sent with these ids."""
    with write(database(app)) as conn:
        claimed = deliveries.claim(conn, broadcast_id, len(sids), 1e12)
        deliveries.record_outcomes(conn, list(zip(sids, [c.delivery_id for c in claimed])),
                                   [], [], [], {})


def _callbacks(app, *updates):
    with write(database(app)) as conn:
        statuses.record_many(conn, [StatusUpdate(sid, status, rank, code, kind)
                                    for sid, status, rank, code, kind in updates])


def test_each_message_counts_once_per_state_it_reached_in_any_order(app, client, citizen):
    for _ in range(4):
        citizen().send("Start")
    broadcast_id = broadcast(app)
    _send(app, broadcast_id, ["SMa", "SMb", "SMc"])
    # Out of order and repeated, as the platform sends them: read before delivered for SMa.
    _callbacks(app, ("SMa", "read", 4, None, None), ("SMa", "delivered", 3, None, None),
               ("SMb", "sent", 2, None, None), ("SMb", "delivered", 3, None, None),
               ("SMb", "delivered", 3, None, None), ("SMc", "failed", 9, "63003",
                                                     "not_on_whatsapp"))
    _callbacks(app, ("SMb", "read", 4, None, None), ("SMa", "delivered", 3, None, None))
    with write(database(app)) as conn:
        broadcasts.cancel(conn, broadcast_id)  # the fourth never went out

    found = scrape(client)
    messages = {dict(labels)["state"]: v for (name, labels), v in found.items()
                if name == "infokanal_messages_total"}
    assert messages == {"sent": 3, "delivered": 2, "read": 2, "failed": 1, "skipped": 1}
    assert value(found, "infokanal_queue_depth") == 0
    # The first status of each of the three messages; the rest do not count again.
    assert value(found, "infokanal_status_callback_lag_seconds_count") == 3
    assert 0 <= value(found, "infokanal_status_callback_lag_seconds_sum") < 5
    assert value(found, "infokanal_webhook_requests_total", webhook="status",
                 outcome="accepted") == 8


def test_the_messages_help_says_they_are_counted_cumulatively(client):
    """The metric counts cumulatively, sent ≥ delivered ≥ read, and its help text says so, so
    that a dashboard built on it is not read per stage; and it says where its sent differs from
    the console's (a message failed after the platform accepted it is in the metric's sent
    only)."""
    response = client.get("/metrics", headers=AUTH)
    [family] = [family for family in text_string_to_metric_families(
        response.get_data(as_text=True)) if family.name == "infokanal_messages"]
    assert "cumulatively" in family.documentation
    assert "sent >= delivered >= read" in family.documentation
    assert ("sent: accepted by the platform, including those later delivered, read or failed "
            "(the console's sent leaves out those that failed after being accepted, so this "
            "can be higher)") in family.documentation


def test_a_paused_broadcast_is_not_in_the_queue_the_sender_works_on(app, client, citizen):
    for _ in range(2):
        citizen().send("Start")
    broadcast_id = broadcast(app)
    with write(database(app)) as conn:
        broadcasts.pause(conn, broadcast_id, "credentials")
    found = scrape(client)
    assert value(found, "infokanal_queue_depth") == 0
    assert value(found, "infokanal_broadcasts", status="paused") == 1


def test_the_warning_polls_last_success_comes_from_the_database(app, client):
    name = "infokanal_warnings_poll_last_success_timestamp_seconds"
    assert not [key for key in scrape(client) if key[0] == name]  # no relay, no sample
    with write(database(app)) as conn:
        conn.execute("INSERT INTO meta (name, value) VALUES ('warnings_polled_at', "
                     "'2026-11-24T03:12:55.000000Z')")
    assert value(scrape(client), name) == datetime(2026, 11, 24, 3, 12, 55,
                                                   tzinfo=timezone.utc).timestamp()
    with write(database(app)) as conn:
        conn.execute("UPDATE meta SET value = 'gestern' WHERE name = 'warnings_polled_at'")
    assert not [key for key in scrape(client) if key[0] == name]


def test_metrics_hold_no_number_and_no_hash(app, client, citizen):
    people = [citizen() for _ in range(3)]
    for person in people:
        person.send("Start")
    broadcast(app)
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    hashes = [h for (h,) in rows(app, "SELECT phone_hash FROM subscribers")]
    for secret in [p.number for p in people] + [p.number.lstrip("+") for p in people] + hashes:
        assert secret not in text


# --- the real processes ----------------------------------------------------------------------

def test_every_web_worker_answers_the_same_after_a_real_broadcast(env, twilio_api, start_web,
                                                                   start_worker):
    port = free_port()
    env = dict(env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}",
               WEB_CONCURRENCY="3")
    web = start_web(env)
    people = [web.citizen() for _ in range(5)]
    for person in people:
        assert person.send("Start").status_code == 200
    twilio_api.callbacks = ["sent", "delivered"]
    twilio_api.callback_delay = 0.3
    answer = web.api("POST", "/api/broadcasts", json={"text": "Probealarm"}).json()
    start_worker(env)

    def delivered():
        text = web.api("GET", "/metrics").text
        found = samples(text)
        return value(found, "infokanal_messages_total", state="delivered") == 5 and text

    text = wait_for(delivered, timeout=30, message="five messages delivered")
    found = samples(text)
    assert value(found, "infokanal_messages_total", state="sent") == 5
    assert value(found, "infokanal_queue_depth") == 0
    assert value(found, "infokanal_status_callback_lag_seconds_count") == 5
    mean_lag = (value(found, "infokanal_status_callback_lag_seconds_sum")
                / value(found, "infokanal_status_callback_lag_seconds_count"))
    assert 0.2 < mean_lag < 10  # the fake platform waits 0.3 s before its callbacks
    assert value(found, "infokanal_webhook_requests_total", webhook="status",
                 outcome="accepted") == 10
    wait_for(lambda: web.api("GET", f"/api/broadcasts/{answer['id']}").json()["status"]
             == "done", message="broadcast done")
    # New connections reach the three workers in turn; each reads the same database.
    answers = set()
    for _ in range(9):
        web.session.close()
        answers.add(web.api("GET", "/metrics").text)
    assert len(answers) == 1


def test_the_counters_start_at_zero_with_their_migration(tmp_path):
    from bot.store.db import init_db
    from bot.vault import new_key, parse_data_key

    path = tmp_path / "new.db"
    init_db(path, parse_data_key(new_key()))
    with sqlite3.connect(path) as conn:
        assert dict(conn.execute("SELECT name, value FROM counters")) == {
            "messages_sent": 0, "messages_delivered": 0, "messages_read": 0,
            "messages_failed": 0, "messages_skipped": 0, "status_lag_seconds_sum": 0,
            "status_lag_count": 0}


# --- the operator's guide ------------------------------------------------------------------------------

def test_the_readmes_scrape_job_and_alerts_name_only_metrics_that_exist(app, client):
    import re

    import yaml

    from tests import documentation

    section = documentation.section(documentation.page(documentation.MONITORING),
                                    "## Monitoring: metrics for Prometheus", "## Logs and headers")
    scrape_config, rules = [yaml.safe_load(block) for block in
                            re.findall(r"```yaml\n(.*?)```", section, re.S)]
    job = scrape_config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics" and job["authorization"]["type"] == "Bearer"
    with write(database(app)) as conn:  # so that the two times have a sample
        conn.executemany("INSERT INTO meta (name, value) VALUES (?, '2026-11-24T03:12:55Z')",
                         [("warnings_polled_at",), ("cleanup_last_run",)])
    exposed = {name for name, _ in scrape(client)}
    for rule in rules["groups"][0]["rules"]:
        used = set(re.findall(r"infokanal_\w+", rule["expr"])) - {"infokanal"}
        assert used <= exposed, rule["alert"]
    # Every metric the guide's table names is one the service exposes.
    documented = set(re.findall(r"^\| `(infokanal_\w+)", section, re.M))
    families = {name.removesuffix("_total") for name in exposed} | {
        name.rsplit("_", 1)[0] for name in exposed if name.endswith(("_sum", "_count"))}
    assert documented and documented <= families | exposed
