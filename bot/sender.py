"""The send loop: works through the deliveries outbox at the configured rate.

It knows nothing of Flask; it depends on two narrow things: the database (where recipients come
from, where outcomes go) and a transport with ``async send(message) -> sid`` (Twilio, or the demo
outbox). One asyncio loop keeps enough requests in flight to reach ``SEND_RATE_LIMIT`` while a
token bucket keeps every second under it.
"""

import asyncio
import logging
import random
import sqlite3
import time

from . import broadcasts, db, outbox, retention, subscribers
from . import twilio_gateway as gateway
from .db import now_iso, write
from .vault import DataKeyError

log = logging.getLogger(__name__)


class TokenBucket:
    """At most ``rate`` per second, with a burst of a fiftieth of a second's worth."""

    def __init__(self, rate):
        self.rate = rate
        self.capacity = max(1.0, rate / 50)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.blocked_until = 0.0

    def hold(self, seconds):
        """Send nothing for a while (the API said 429)."""
        self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)
        self.tokens = 0.0

    async def take(self):
        while True:
            now = time.monotonic()
            if now < self.blocked_until:
                await asyncio.sleep(self.blocked_until - now)
                self.updated = time.monotonic()
                continue
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


class Outcomes:
    """Send results waiting to be written; flushed in one short transaction."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.sent, self.failed, self.skipped, self.retry = [], [], [], []
        self.counted_retry = []
        self.unknown_retries = {}
        self.opted_out = []

    def __len__(self):
        return (len(self.sent) + len(self.failed) + len(self.skipped) + len(self.retry)
                + len(self.counted_retry))


def backoff(attempts, cap=120.0):
    """Seconds before the next try: 1, 2, 4 … cap, with jitter so retries do not march."""
    return min(cap, 2 ** min(max(0, attempts - 1), 32)) * random.uniform(0.8, 1.2)


class Sender:
    def __init__(self, database, vault, transport, rate=80.0, concurrency=0, batch_size=200,
                 max_attempts=8, poll_seconds=0.5, limit_pause_seconds=3600.0,
                 throttle_backoff_cap=30.0, every_minute_seconds=60.0):
        self.database = database
        self.conn = database.conn
        self.vault = vault
        self.transport = transport
        self.bucket = TokenBucket(rate)
        # Enough in flight for the rate at an API answering in up to ~0.4 s, within Twilio's
        # concurrent-request allowance.
        self.concurrency = concurrency or int(min(400, max(8, rate * 0.4)))
        # A quarter second's worth at most, so that an urgent broadcast or a cancel is seen
        # quickly instead of after a long batch of the one before.
        self.batch_size = int(min(batch_size, max(5, rate / 4)))
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.limit_pause_seconds = limit_pause_seconds
        # 429s never fail a delivery; they slow the whole sender down, more the longer they go
        # on, and a successful send ends that.
        self.throttle_backoff_cap = throttle_backoff_cap
        self.throttle_level = 0
        self.throttled_until = 0.0
        self.outcomes = Outcomes()
        self.stopping = asyncio.Event()
        self.in_flight = set()
        self.sendable = set()
        self.sendable_checked = 0.0
        self.contents = {}
        self.sent_total = 0
        self.retention_settings = None  # build() sets it; None: no cleanup (unit tests)
        self.cleanup_checked = float("-inf")
        # Light checks that need no hurry run this often, in a thread on a connection of their
        # own, so that a slow read never holds up sending.
        self.every_minute_seconds = every_minute_seconds
        self.side_database = None
        self.hinted = set()  # broadcasts whose failure hints have been logged
        self.notice_window_seconds = None  # build() sets it; None: the throttle is left alone

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, until_idle=False):
        with write(self.database) as conn:
            recovered = broadcasts.recover_in_flight(conn)
        if recovered:
            log.warning("%d deliveries were in flight at the last stop; sending them again "
                        "(counted as possible duplicates)", recovered)
        semaphore = asyncio.Semaphore(self.concurrency)
        flusher = asyncio.create_task(self._flush_periodically())
        minutely = asyncio.create_task(self._every_minute())
        try:
            while not self.stopping.is_set():
                self._cleanup_if_due()
                batch = self._next_batch()
                if not batch:
                    if until_idle and not self.in_flight and not self._pending_work():
                        break
                    await self._sleep(self.poll_seconds)
                    continue
                for item in batch:
                    if not self._may_send(item):
                        continue
                    await self.bucket.take()
                    await semaphore.acquire()
                    # Again after waiting for the rate and a free slot, right before the send,
                    # so that a pause or cancel made meanwhile stops it.
                    if not self._may_send(item):
                        semaphore.release()
                        continue
                    task = asyncio.create_task(self._send_one(item))
                    self.in_flight.add(task)
                    task.add_done_callback(self._done(semaphore))
        finally:
            if self.in_flight:
                await asyncio.gather(*self.in_flight, return_exceptions=True)
            flusher.cancel()
            self.flush()
            self.stopping.set()
            await minutely  # lets a check under way in its thread finish first
            if self.side_database is not None:
                self.side_database.conn.close()

    def _may_send(self, item):
        """False (and the delivery handed back, no attempt used) once it must not go out now."""
        self._refresh_sendable()
        if self.stopping.is_set() or item.broadcast_id not in self.sendable:
            self.outcomes.retry.append((0, item.delivery_id))
            return False
        return True

    def _done(self, semaphore):
        def callback(task):
            self.in_flight.discard(task)
            semaphore.release()
            if not task.cancelled() and task.exception() is not None:
                log.error("send task failed: %r", task.exception())
        return callback

    async def _sleep(self, seconds):
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    async def _flush_periodically(self):
        while True:
            await asyncio.sleep(0.1)
            self.flush()

    def stop(self):
        self.stopping.set()

    async def _every_minute(self):
        # At least once per run, also one that ends at once (``worker --until-idle``).
        while True:
            try:
                await asyncio.to_thread(self._minutely)
            except Exception:  # noqa: BLE001 - a failed check must not stop the sending
                log.exception("A periodic check failed; trying again in a minute")
            if self.stopping.is_set():
                return
            await self._sleep(self.every_minute_seconds)

    def _minutely(self):
        """Runs in a worker thread, on its own connection."""
        if self.side_database is None:
            path = self.conn.execute("PRAGMA database_list").fetchone()[2]
            self.side_database = db.connect(path)
        conn = self.side_database.conn
        if self.notice_window_seconds is not None:
            forgotten = forget_old_notices(self.side_database, self.notice_window_seconds)
            if forgotten:
                log.info("Forgot %d auto-notice throttle entries older than the window",
                         forgotten)
        for broadcast_id in broadcasts.recently_active(conn, now_iso(-3600)):
            if broadcast_id not in self.hinted:
                # Failures reported by status callbacks, which the send loop never sees.
                self._warn_hints(broadcast_id, broadcasts.get(conn, broadcast_id)["errors"])

    def _warn_hints(self, broadcast_id, errors):
        """Log once per broadcast what the operator can do about its failures."""
        if broadcast_id in self.hinted:
            return
        hints = gateway.hints_for(errors)
        if hints:
            self.hinted.add(broadcast_id)
            log.warning("Broadcast %d: %s", broadcast_id, " ".join(hints))

    def _cleanup_if_due(self, check_every_seconds=60):
        """The daily retention cleanup; the database knows when it last ran."""
        if self.retention_settings is None:
            return
        if time.monotonic() - self.cleanup_checked < check_every_seconds:
            return
        self.cleanup_checked = time.monotonic()
        try:
            counts = retention.run_if_due(self.database, self.retention_settings)
        except sqlite3.Error:
            log.exception("Retention cleanup failed; trying again in a minute")
            return
        if counts is not None:
            log.info("Retention cleanup: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))

    # -- storage ----------------------------------------------------------------------------

    def _next_batch(self):
        """Housekeeping, then claim due deliveries, urgent broadcasts first."""
        self.flush()
        with write(self.database) as conn:
            limit_paused = broadcasts.housekeeping(conn, self.limit_pause_seconds)
            order = broadcasts.active_order(conn)
            self.sendable = set(order)
            self.sendable_checked = time.monotonic()
            self.contents = {k: v for k, v in self.contents.items() if k in self.sendable}
            claimed = []
            for broadcast_id in order:
                claimed = broadcasts.claim(conn, broadcast_id, self.batch_size, time.time())
                if claimed:
                    break
        for broadcast_id, reason in limit_paused:
            log.warning("WhatsApp messaging limit reached (%s, reported in a status callback): "
                        "broadcast %d paused for %d minutes; the refused messages go out again "
                        "then", reason, broadcast_id, self.limit_pause_seconds // 60)
        return claimed

    def _refresh_sendable(self, every=0.25):
        """Notice cancels and pauses made while a batch is being sent."""
        now = time.monotonic()
        if now - self.sendable_checked >= every:
            self.sendable = set(broadcasts.active_order(self.conn))
            self.sendable_checked = now

    def _pending_work(self):
        row = self.conn.execute(
            "SELECT 1 FROM broadcasts WHERE status IN ('scheduled', 'queued', 'sending') "
            "LIMIT 1").fetchone()
        return row is not None

    def flush(self):
        out = self.outcomes
        if not len(out) and not out.opted_out:
            return
        with write(self.database) as conn:
            broadcasts.record_outcomes(conn, out.sent, out.failed, out.skipped, out.retry,
                                       out.unknown_retries, out.counted_retry,
                                       limit_codes=gateway.LIMIT_ERROR_CODES)
            for subscriber_id in out.opted_out:
                subscribers.unsubscribe_by_id(conn, subscriber_id, "platform-opt-out")
        out.clear()

    # -- one message ------------------------------------------------------------------------

    async def _send_one(self, item):
        content = self.contents.get(item.broadcast_id)
        if content is None:
            # A broadcast's text never changes once written; read it once.
            content = self.contents[item.broadcast_id] = broadcasts.broadcast_content(
                self.conn, item.broadcast_id)
        row = broadcasts.recipient(self.conn, item.subscriber_id)
        if row is None:
            # Stop wins: checked now, not when the batch was claimed.
            self.outcomes.skipped.append(("unsubscribed", item.delivery_id))
            return
        text, media_url = content
        try:
            to = self.vault.decrypt(row[0])
        except DataKeyError:
            log.error("DATA_KEY cannot decrypt a subscriber of broadcast %d: paused. Start "
                      "the worker with the key the numbers were written under (DATA_KEY=new,old "
                      "during a rotation), then resume it.", item.broadcast_id)
            self._pause(item, "data key", None)
            return
        message = gateway.OutgoingMessage(to=to, body=text, media_url=media_url,
                                          broadcast_id=item.broadcast_id, to_hash=row[1])
        try:
            sid = await self.transport.send(message)
        except gateway.SendError as error:
            self._handle_error(item, error)
            return
        except Exception:  # noqa: BLE001 - a bug must not strand the delivery in 'sending'
            log.exception("unexpected error sending a delivery of broadcast %d; retrying later",
                          item.broadcast_id)
            self.outcomes.counted_retry.append((time.time() + backoff(item.attempts + 1),
                                                item.delivery_id))
            return
        self.outcomes.sent.append((sid, item.delivery_id))
        self.sent_total += 1
        self.throttle_level = 0

    def _throttle_delay(self):
        """How long to hold everything after a 429: longer while 429s keep coming."""
        now = time.monotonic()
        # A 429 for a request sent before the current hold says nothing new; one that comes
        # after the hold has run out means it was not long enough.
        if now >= self.throttled_until:
            self.throttle_level += 1
            self.throttled_until = now + backoff(self.throttle_level, self.throttle_backoff_cap)
        return self.throttled_until - now

    def _handle_error(self, item, error):
        out = self.outcomes
        code = str(error.code) if error.code is not None else None
        if error.kind == gateway.THROTTLED:
            # Never processed, so never a duplicate and never the recipient's fault: retried
            # until sent, cancelled or expired, without counting toward SEND_MAX_ATTEMPTS.
            delay = self._throttle_delay()
            self.bucket.hold(delay)
            out.retry.append((time.time() + delay, item.delivery_id))
            return
        if error.kind == gateway.UNKNOWN:
            attempts = item.attempts + 1
            if attempts >= self.max_attempts:
                out.failed.append((code or "retries-exhausted", item.delivery_id))
            else:
                out.unknown_retries[item.broadcast_id] = (
                    out.unknown_retries.get(item.broadcast_id, 0) + 1)
                out.counted_retry.append((time.time() + backoff(attempts), item.delivery_id))
            return
        if error.kind == gateway.HALT:
            log.error("Twilio refused our credentials or sender (%s): broadcast %d paused. "
                      "Fix the configuration, then resume it.", code, item.broadcast_id)
            self._pause(item, f"credentials ({code})", None)
            return
        if error.kind == gateway.LIMIT:
            log.warning("WhatsApp messaging limit reached (%s): broadcast %d paused for %d "
                        "minutes", code, item.broadcast_id, self.limit_pause_seconds // 60)
            self._pause(item, f"{broadcasts.LIMIT_PAUSE_REASON} ({code})",
                        now_iso(self.limit_pause_seconds))
            return
        out.failed.append((code or "unknown", item.delivery_id))
        self._warn_hints(item.broadcast_id, {code: 1})
        if error.kind == gateway.OPTED_OUT:
            out.opted_out.append(item.subscriber_id)

    def _pause(self, item, reason, resume_at):
        self.outcomes.retry.append((0, item.delivery_id))
        if item.broadcast_id in self.sendable:
            self.sendable.discard(item.broadcast_id)
            self.flush()
            with write(self.database) as conn:
                broadcasts.pause(conn, item.broadcast_id, reason, resume_at)


def forget_old_notices(database, window_seconds, batch_size=500):
    """Delete auto-notice throttle entries older than the window; returns how many.

    The throttle keys on a hash of the citizen's number; once the window is over the entry
    has no use, and issue 2 promises that it is forgotten then, not a day later by the daily
    cleanup. In batches, each its own short write, so webhooks never wait long.
    """
    conn = getattr(database, "conn", database)
    cutoff = now_iso(-window_seconds)
    total = 0
    # Most minutes there is nothing to forget: find that out without taking the write lock.
    while conn.execute("SELECT 1 FROM notice_throttle WHERE sent_at < ? LIMIT 1",
                       (cutoff,)).fetchone():
        with write(database) as tx:
            deleted = tx.execute(
                "DELETE FROM notice_throttle WHERE phone_hash IN (SELECT phone_hash FROM "
                "notice_throttle WHERE sent_at < ? LIMIT ?)", (cutoff, batch_size)).rowcount
        total += deleted
        if deleted < batch_size:
            break
    return total


class OutboxTransport:
    """Demo mode: 'sends' into the local outbox table."""

    def __init__(self, database):
        self.database = database

    async def send(self, message):
        with write(self.database) as conn:
            return outbox.add(conn, message.to, message.to_hash, message.body, "broadcast",
                              message.media_url, message.broadcast_id)

    async def close(self):
        pass


def build(config, vault, demo):
    """A Sender for this configuration (Twilio, or the outbox in demo mode)."""
    database = db.connect(config["DATABASE_PATH"])
    if demo:
        transport = OutboxTransport(db.connect(config["DATABASE_PATH"]))
    else:
        callback = f"{config['PUBLIC_URL']}/twilio/status" if config["PUBLIC_URL"] else None
        if callback is None:
            log.warning("PUBLIC_URL is not set: no delivery status callbacks will arrive")
        rate = config["SEND_RATE_LIMIT"]
        transport = gateway.TwilioTransport(
            config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
            config["TWILIO_WHATSAPP_FROM"], api_url=config["TWILIO_API_URL"],
            status_callback=callback, content_sid=config["BROADCAST_CONTENT_SID"] or None,
            max_connections=max(64, config["SEND_CONCURRENCY"] or int(rate * 0.4) + 16),
            timeout_seconds=config["SEND_TIMEOUT_SECONDS"])
    sender = Sender(
        database, vault, transport, rate=config["SEND_RATE_LIMIT"],
        concurrency=config["SEND_CONCURRENCY"], batch_size=config["SEND_BATCH_SIZE"],
        max_attempts=config["SEND_MAX_ATTEMPTS"], poll_seconds=config["SENDER_POLL_SECONDS"],
        limit_pause_seconds=config["LIMIT_PAUSE_MINUTES"] * 60)
    sender.retention_settings = config
    sender.notice_window_seconds = config["NOTICE_WINDOW_HOURS"] * 3600
    return sender


async def serve(config, vault, demo, until_idle=False):
    """Run a sender until SIGTERM/SIGINT (or until idle), then close cleanly."""
    import signal

    sender = build(config, vault, demo)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, sender.stop)
    log.info("Sender running at up to %.0f messages/s (%s)", sender.bucket.rate,
             "demo outbox" if demo else "Twilio")
    try:
        await sender.run(until_idle=until_idle)
    finally:
        await sender.transport.close()
        sender.database.conn.close()
    log.info("Sender stopped after %d messages", sender.sent_total)
    return sender.sent_total
