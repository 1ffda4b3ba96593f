"""``GET /metrics``: the service's state in Prometheus's text format, for the operator's
monitoring. Behind a bearer token: ``METRICS_TOKEN`` when set (so that the monitoring need not
hold the press office's API token), else ``ADMIN_TOKEN``.

Every value comes from the database (``store.metrics``), so whichever web worker answers a
scrape, the answer is the same. Counts only: no number, no hash. The registry is built per
scrape and holds only these: the process metrics of whichever worker answered would say
nothing about the service.
"""

import hmac

from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily,
                                    SummaryMetricFamily)

from ..store import counters, metrics, replica, replies
from .database import get_db

bp = Blueprint("metrics", __name__)

MESSAGE_STATES = ("sent", "delivered", "read", "failed", "skipped")
WEBHOOK_OUTCOMES = [("messages", outcome) for outcome in
                    ("accepted", "duplicate", "forbidden", "invalid")] + [("status", "accepted")] \
    + [("events", outcome) for outcome in ("accepted", "duplicate", "forbidden", "invalid")]


@bp.get("/metrics")
def scrape():
    expected = current_app.config["METRICS_TOKEN"] or current_app.config["ADMIN_TOKEN"]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not (expected and scheme.lower() == "bearer" and given
            and hmac.compare_digest(given.strip().encode(), expected.encode())):
        return Response("unauthorized: send 'Authorization: Bearer <METRICS_TOKEN, or "
                        "ADMIN_TOKEN when that is not set>'\n", status=401,
                        mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(metrics.snapshot(get_db().conn)))
    # The format the scraper asks for (Prometheus prefers OpenMetrics), else the classic text.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})


class Collector:
    """One scrape's metrics, from one snapshot of the database."""

    def __init__(self, snapshot):
        self.snapshot = snapshot

    def collect(self):
        s = self.snapshot
        values = s.counters
        yield GaugeMetricFamily("infokanal_subscribers", "Active subscribers.",
                                value=s.subscribers)

        broadcasts = GaugeMetricFamily("infokanal_broadcasts", "Broadcasts by status.",
                                       labels=["status"])
        for status, number in s.broadcasts.items():
            broadcasts.add_metric([status], number)
        yield broadcasts

        messages = CounterMetricFamily(
            "infokanal_messages",
            "Messages by what became of them, counted cumulatively: each once in every state "
            "it reached, so sent >= delivered >= read. sent: accepted by the platform, "
            "including those later delivered, read or failed (the console's sent leaves out "
            "those that failed after being accepted, so this can be higher); delivered: "
            "including those "
            "later read; read; failed: refused by the platform, before or after it took the "
            "message (one refused after is in sent too); skipped: never sent (the citizen "
            "left, cancelled, expired).",
            labels=["state"])
        for state in MESSAGE_STATES:
            messages.add_metric([state], values.get(counters.MESSAGES + state, 0))
        yield messages

        yield GaugeMetricFamily(
            "infokanal_queue_depth",
            "Messages waiting to be sent, or in flight, in broadcasts the sender is working on "
            "(queued or sending; paused and scheduled ones are not counted).",
            value=s.queue_depth)

        answers = CounterMetricFamily(
            "infokanal_replies",
            "Answers to citizens (welcome, goodbye, help, notice) that the worker sent through "
            "the platform's API, on a platform whose webhook cannot carry them (Meta's Cloud "
            "API; Twilio's go in the webhook's answer and are not counted here), by outcome. "
            "sent: taken by the platform; failed: refused for that citizen, or given up after "
            "SEND_MAX_ATTEMPTS unknown outcomes.",
            labels=["outcome"])
        answers.add_metric(["sent"], values.get(replies.SENT, 0))
        answers.add_metric(["failed"], values.get(replies.FAILED, 0))
        yield answers

        yield CounterMetricFamily(
            "infokanal_replies_retried_unknown",
            "Answers to citizens sent again although the platform may have taken them already: "
            "after an unknown outcome (a timeout, a server error), or because the worker "
            "stopped while they were in flight (counted when it starts again). Each is a "
            "possible duplicate, as broadcasts' retries_unknown.",
            value=values.get(replies.RETRIED_UNKNOWN, 0))

        yield GaugeMetricFamily(
            "infokanal_reply_queue_depth",
            "Answers to citizens waiting for the worker, or in flight; also those held for a "
            "retry (too many requests, refused credentials, the messaging limit). They go out "
            "ahead of broadcasts, so more than a few for long means the worker is not running "
            "or the platform refuses it.",
            value=s.replies_waiting)

        yield SummaryMetricFamily(
            "infokanal_status_callback_lag_seconds",
            "Seconds from a message's send to the first status callback stored for it.",
            count_value=values.get(counters.LAG_COUNT, 0),
            sum_value=values.get(counters.LAG_SUM, 0))

        webhooks = CounterMetricFamily(
            "infokanal_webhook_requests",
            "The platform's webhook requests by outcome. messages: accepted, duplicate (a "
            "replay), forbidden (bad signature), invalid. status: accepted (stored); status "
            "callbacks the web front refuses are not counted. meta: posts to Meta's webhook "
            "refused as forbidden or invalid (their messages and statuses count as above; a "
            "message skipped as unusable counts as messages invalid). events: Twilio's Event "
            "Streams sink: statuses stored (accepted) and events posted again (duplicate), "
            "per event; posts refused (forbidden, invalid).",
            labels=["webhook", "outcome"])
        # The known outcomes appear from the start, at 0, so that increase() sees the first one.
        outcomes = dict.fromkeys(WEBHOOK_OUTCOMES, 0)
        for name, number in values.items():
            if name.startswith(counters.WEBHOOK):
                webhook, _, outcome = name[len(counters.WEBHOOK):].partition("_")
                outcomes[(webhook, outcome)] = number
        for labels, number in sorted(outcomes.items()):
            webhooks.add_metric(list(labels), number)
        yield webhooks

        yield _moment(
            "infokanal_warnings_poll_last_success_timestamp_seconds",
            "When the official warnings feed was last read successfully (Unix time); no sample "
            "before the first success or without the relay.", s.warnings_polled_at)

        yield _moment("infokanal_cleanup_last_run_timestamp_seconds",
                      "When the retention cleanup last ran (Unix time).", s.cleanup_last_run)

        yield CounterMetricFamily(
            "infokanal_replica_unconfirmed",
            "Citizens' changes (Start, Stop, topics, language) and erasures answered before the "
            "replica confirmed them within REPLICA_WAIT_SECONDS: kept here, they replicate once "
            "the store answers. 0 without REPLICA_URL.",
            value=values.get(replica.UNCONFIRMED, 0))

        yield _moment(
            "infokanal_replica_behind_since_timestamp_seconds",
            "Since when the replica has not confirmed a change (Unix time); no sample while it "
            "confirms every one.", s.replica_behind_since)


def _moment(name, documentation, unix_time):
    """A gauge of one moment (Unix time), with no sample while there is none."""
    gauge = GaugeMetricFamily(name, documentation)
    if unix_time is not None:
        gauge.add_metric([], unix_time)
    return gauge
