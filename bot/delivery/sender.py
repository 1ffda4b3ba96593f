"""The send loop: works through the deliveries queue at the configured rate.

It knows nothing of Flask; it depends on two narrow things: the database (where recipients come
from, where outcomes go) and a transport with ``async send(message) -> message id`` (the
platform, or the demo outbox). One asyncio loop keeps enough requests in flight to reach
``SEND_RATE_LIMIT`` while a token bucket keeps every second under it (and pictures, with a
bucket of their own, under ``SEND_RATE_LIMIT_MEDIA``). What to do about an error
is decided by its kind (``vocabulary``), never by a platform's code. Its writes (claims and
results) run on a thread of their own (``background``), so it never waits for the write lock.

Answers to citizens queued by the web process (``store.replies``, on a platform whose webhook
cannot carry them) go out through the same transport and the same bucket, ahead of any
broadcast message waiting for a token: the citizen is waiting, and the platform's ceiling
counts everything the number sends. A citizen gets their answers one after another, in the
order they were queued (``store.replies`` claims only each citizen's oldest).

It is long because the loop, the checks right before each send and what is done about each
kind of error share the loop's state (the rate bucket, what may be sent now, the results not
yet written); split apart, each part would reach into the others.
"""

import asyncio
import logging
import random
import time

from .. import vocabulary as v
from ..domain import polls
from ..platforms import base as platform
from ..store import broadcasts, citizen_cap, deliveries, replies
from ..store.db import now_iso, write
from ..vault import DataKeyError
from . import background
from .chores import Chores
from .outcomes import Outcomes
from .pacing import TokenBucket, backoff

log = logging.getLogger(__name__)


class Sender:
    def __init__(self, database, vault, transport, rate=80.0, concurrency=0, batch_size=200,
                 max_attempts=8, poll_seconds=0.5, limit_pause_seconds=3600.0,
                 throttle_backoff_cap=30.0, chores=None, reply_poll_seconds=0.05,
                 citizen_cap_seconds=citizen_cap.RETRY_SECONDS,
                 reply_hold_seconds=60.0, pair_limit_seconds=(6.0, 10.0), media_rate=None,
                 text_limit=None):
        self.database = database
        self.conn = database.conn
        self.vault = vault
        self.transport = transport
        self.bucket = TokenBucket(rate)
        # The platform takes pictures at a lower rate than text (Twilio: 80/s, however high
        # text was raised): a picture takes a token of its own bucket too, so that pictures
        # keep under their rate and everything together under the number's; held whenever
        # the number is.
        self.picture_bucket = (TokenBucket(media_rate, within=self.bucket)
                               if media_rate and media_rate < rate else None)
        # Enough in flight for the rate at an API answering in up to ~0.4 s, within the
        # platform's concurrent-request allowance.
        self.concurrency = concurrency or int(min(400, max(8, rate * 0.4)))
        # A quarter second's worth at most, so that an urgent broadcast or a cancel is seen
        # quickly instead of after a long batch of the one before.
        self.batch_size = int(min(batch_size, max(5, rate / 4)))
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.limit_pause_seconds = limit_pause_seconds
        # The most characters a broadcast's text may have now: a planned one written under a
        # larger limit is held when it becomes due, not refused by the platform for everyone.
        self.text_limit = text_limit
        # "Too many requests" never fails a delivery; it slows the whole sender down, more the
        # longer it goes on, and a successful send ends that.
        self.throttle_backoff_cap = throttle_backoff_cap
        self.throttle_level = 0
        self.throttled_until = 0.0
        self.outcomes = Outcomes()
        self.stopping = asyncio.Event()
        self.in_flight = set()
        self.order = []
        self.sendable = set()
        self.sendable_checked = 0.0
        self.contents = {}
        # The claimed batch's recipients, read in one query, and the departures count they
        # were read at (see _still_subscribed).
        self.recipients = {}
        self.departures = None
        self.sent_total = 0
        # What runs beside the sending (retention, forgetting throttle entries, hints); None
        # in unit tests that want the loop alone.
        self.chores = chores or Chores(database)
        # How long the platform's cap per citizen holds a broadcast's message back (at most;
        # an expiry can make it shorter, see store.citizen_cap).
        self.citizen_cap_seconds = citizen_cap_seconds
        # How long the platform's limit of messages to one citizen in a short time (about one
        # every six seconds) holds that one message back: a range, so that a citizen's held
        # messages do not come back all at once.
        self.pair_limit_seconds = pair_limit_seconds
        # Answers: looked for this often (one step of an index when none is due), a few in
        # flight beside the broadcast's (the transport has connections to spare for them),
        # and held this long when they cannot go out now for a reason that is not theirs
        # (the data key, the credentials).
        self.reply_poll_seconds = reply_poll_seconds
        self.reply_hold_seconds = reply_hold_seconds
        self.reply_tasks = set()
        self.replies_closing = asyncio.Event()
        self.replies_total = 0
        self._reply_logged = {}

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, until_idle=False):
        with write(self.database) as conn:
            recovered = deliveries.recover_in_flight(conn)
            answers = replies.recover(conn)
        if recovered:
            log.warning("%d deliveries were in flight at the last stop; sending them again "
                        "(counted as possible duplicates)", recovered)
        if answers:
            log.warning("%d answers to citizens were in flight at the last stop; sending them "
                        "again (counted as possible duplicates)", answers)
        path = self.conn.execute("PRAGMA database_list").fetchone()[2]
        self.background = background.Background(path)
        semaphore = asyncio.Semaphore(self.concurrency)
        flusher = asyncio.create_task(self._flush_periodically())
        chores = asyncio.create_task(self.chores.run(self.stopping))
        answering = asyncio.create_task(self._answer())
        upcoming = None
        try:
            while not self.stopping.is_set():
                self.chores.cleanup_if_due()
                batch = self._apply(await (upcoming or self._claim_soon()))
                if upcoming is not None and self._overtaken(batch):
                    batch = self._apply(await self._claim_soon())
                upcoming = None
                if not batch:
                    if until_idle and not self.in_flight and not self._pending_work() \
                            and not self._replies_pending():
                        break
                    await self._sleep(self.poll_seconds)
                    continue
                # The next batch is claimed while this one goes out.
                upcoming = self._claim_soon()
                for item in batch:
                    # A citizen who left costs no rate token and no slot.
                    if not self._may_send(item) or not self._still_subscribed(item, fresh=False):
                        continue
                    if self.picture_bucket is not None and self._picture(item):
                        await self.picture_bucket.take()
                    await self.bucket.take()
                    await semaphore.acquire()
                    # Again after waiting for the rate and a free slot, right before the send,
                    # so that a pause, a cancel or a Stop made meanwhile stops it.
                    if not self._may_send(item) or not self._still_subscribed(item):
                        semaphore.release()
                        continue
                    task = asyncio.create_task(
                        self._send_one(item, self.recipients[item.subscriber_id]))
                    self.in_flight.add(task)
                    task.add_done_callback(self._done(semaphore))
        finally:
            self.replies_closing.set()
            await asyncio.gather(answering, return_exceptions=True)
            if self.in_flight or self.reply_tasks:
                await asyncio.gather(*self.in_flight, *self.reply_tasks,
                                     return_exceptions=True)
            flusher.cancel()
            if upcoming is not None:
                # Claimed but never tried: back to the queue as they were, no attempt used.
                for item in self._apply(await upcoming):
                    self.outcomes.retry.append((0, item.delivery_id))
            self.background.close()
            self.flush()
            self.stopping.set()
            await chores  # lets a check under way in its thread finish first

    def _picture(self, item):
        return bool(self._content(self.conn, item.broadcast_id).media_url)

    def _may_send(self, item):
        """False (and the delivery handed back, no attempt used) once it must not go out now."""
        self._refresh_sendable()
        if self.stopping.is_set() or item.broadcast_id not in self.sendable:
            self.outcomes.retry.append((0, item.delivery_id))
            return False
        return True

    def _still_subscribed(self, item, fresh=True):
        """Stop wins: False (and the delivery skipped) once the citizen has left.

        The batch's recipients were read when it was claimed; ``fresh`` asks the database
        whether anyone has left since (one tiny read) and, only then, reads again who of the
        batch is still subscribed.
        """
        if fresh:
            departures = deliveries.departures(self.conn)
            if departures != self.departures:
                self.departures = departures
                content = self._content(self.conn, item.broadcast_id)
                self.recipients = deliveries.recipients(
                    self.conn, list(self.recipients), content.urgent, content.topics)
        if item.subscriber_id in self.recipients:
            return True
        self.outcomes.skipped.append((v.SKIP_UNSUBSCRIBED, item.delivery_id))
        return False

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
            out = self._take_outcomes()
            if out is not None:
                await self.background.run(background.write_outcomes, out)

    def stop(self):
        self.stopping.set()

    # -- storage ----------------------------------------------------------------------------

    def _next_batch(self):
        """Write what came back, then housekeeping, then claim due deliveries, urgent
        broadcasts first: the loop's steps done at once, on its own connection."""
        self.flush()
        return self._apply(background.claim(self.database, self.batch_size,
                                            self.limit_pause_seconds, self.text_limit))

    def _claim_soon(self):
        """What came back so far is written, then the next batch claimed, in the background."""
        return asyncio.ensure_future(self.background.run(
            background.write_then_claim, self._take_outcomes(), self.batch_size,
            self.limit_pause_seconds, self.text_limit))

    def _overtaken(self, batch):
        """A batch claimed ahead while an urgent broadcast came in goes back to the queue: the
        urgent one is sent first, not after it."""
        order = self.order
        if not batch or not order or order[0] == batch[0].broadcast_id:
            return False
        for item in batch:
            self.outcomes.retry.append((0, item.delivery_id))
        return True

    def _apply(self, batch):
        """Take a claimed batch up in the loop: what may be sent now, and to whom.

        What may be sent is read again now: a batch claimed ahead may be older than a pause or
        a cancel."""
        self.order = deliveries.active_order(self.conn)
        self.sendable = set(self.order)
        self.sendable_checked = time.monotonic()
        self.contents = {k: v for k, v in self.contents.items() if k in self.sendable}
        self.departures = batch.departures
        self.recipients = batch.recipients
        for broadcast_id, reason in batch.limit_paused:
            if reason.startswith(v.PAUSE_TEXT_TOO_LONG):
                log.error("Broadcast %d is due but was written under a larger limit: %s. "
                          "Paused before anything went out; shorten it, then resume it.",
                          broadcast_id, reason)
                continue
            log.warning("WhatsApp messaging limit reached (%s, reported in a status callback): "
                        "broadcast %d paused for %d minutes; the refused messages go out again "
                        "then", reason, broadcast_id, self.limit_pause_seconds // 60)
        return batch.claimed

    def _refresh_sendable(self, every=0.25):
        """Notice cancels and pauses made while a batch is being sent."""
        now = time.monotonic()
        if now - self.sendable_checked >= every:
            self.sendable = set(deliveries.active_order(self.conn))
            self.sendable_checked = now

    def _pending_work(self):
        row = self.conn.execute(
            "SELECT 1 FROM broadcasts WHERE status IN ('scheduled', 'queued', 'sending') "
            "LIMIT 1").fetchone()
        return row is not None

    def _replies_pending(self):
        return bool(self.reply_tasks) or replies.pending(self.conn) > 0

    def flush(self):
        """Write what came back, now, on the loop's own connection."""
        out = self._take_outcomes()
        if out is not None:
            background.write_outcomes(self.database, out)

    def _take_outcomes(self):
        out = self.outcomes
        if not len(out) and not out.opted_out:
            return None
        self.outcomes = Outcomes()
        return out

    # -- answers to citizens -----------------------------------------------------------------

    # Answers in flight at most: at the platform's usual 0.2 to 0.4 s per request, some 150
    # to 300 answers a second, far more than citizens write even after a broadcast that asks
    # them to.
    REPLY_CONCURRENCY = 64

    async def _answer(self):
        """Claim due answers and send each in a task of its own, until the loop ends.

        Whether one is due is read on the loop's own connection (one step of an index, no
        lock); only then is the claim written, in the background like every write."""
        while not self.replies_closing.is_set():
            free = self.REPLY_CONCURRENCY - len(self.reply_tasks)
            try:
                if free > 0 and not self.stopping.is_set() \
                        and replies.due(self.conn, time.time()):
                    for row in await self.background.run(background.claim_replies, free,
                                                         time.time()):
                        task = asyncio.create_task(self._send_reply(*row))
                        self.reply_tasks.add(task)
                        task.add_done_callback(self._reply_done)
            except Exception:  # noqa: BLE001 - a failed read or claim must not end the answers
                log.exception("Looking for answers to citizens failed; trying again")
            try:
                await asyncio.wait_for(self.replies_closing.wait(), self.reply_poll_seconds)
            except asyncio.TimeoutError:
                pass

    def _reply_done(self, task):
        self.reply_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reply task failed: %r", task.exception())

    async def _send_reply(self, reply_id, phone_hash, phone_enc, body, attempts):
        try:
            to = self.vault.decrypt(phone_enc)
        except DataKeyError:
            self._log_reply_hold(
                "data key", "DATA_KEY cannot decrypt the number of an answer to a citizen: "
                "answers wait. Start the worker with the key the numbers were written under "
                "(DATA_KEY=new,old during a rotation).")
            self.outcomes.replies_retry.append((time.time() + self.reply_hold_seconds,
                                                reply_id))
            return
        await self.bucket.take(priority=True)
        if self.stopping.is_set():
            self.outcomes.replies_retry.append((0, reply_id))  # never tried: as it was
            return
        message = platform.OutgoingMessage(to=to, body=body, to_hash=phone_hash, reply=True)
        try:
            await self.transport.send(message)
        except platform.SendError as error:
            self._handle_reply_error(reply_id, attempts, error)
            return
        except Exception:  # noqa: BLE001 - a bug must not strand the answer in 'sending'
            log.exception("unexpected error sending an answer to a citizen; retrying later")
            self.outcomes.replies_counted_retry.append(
                (time.time() + backoff(attempts + 1), reply_id))
            return
        self.outcomes.replies_sent.append(reply_id)
        self.replies_total += 1
        self.throttle_level = 0

    def _handle_reply_error(self, reply_id, attempts, error):
        """As for a broadcast's message, but an answer never pauses anything: what is about
        the channel (credentials, the messaging limit) holds the answer until it can go."""
        out = self.outcomes
        code = str(error.code) if error.code is not None else None
        if error.kind == v.THROTTLED:
            delay = self._throttle_delay()
            self.bucket.hold(delay)
            out.replies_retry.append((time.time() + delay, reply_id))
        elif error.kind == v.PAIR_LIMIT:
            # This citizen has had enough from us just now: their answer waits a few seconds
            # (keeping its place ahead of their later ones), nothing else does.
            out.replies_retry.append((self._pair_limit_until(), reply_id))
        elif error.kind == v.UNKNOWN:
            if attempts + 1 >= self.max_attempts:
                log.warning("An answer to a citizen was given up after %d tries with unknown "
                            "outcome (%s)", attempts + 1, code)
                out.replies_failed.append(reply_id)
            else:
                out.replies_counted_retry.append(
                    (time.time() + backoff(attempts + 1), reply_id))
        elif error.kind == v.CREDENTIALS:
            self._log_reply_hold(
                v.CREDENTIALS, f"The platform refused our credentials or sender ({code}): "
                "answers to citizens wait. Fix the configuration and restart the worker.")
            out.replies_retry.append((time.time() + self.reply_hold_seconds, reply_id))
        elif error.kind == v.MESSAGING_LIMIT:
            self._log_reply_hold(
                v.MESSAGING_LIMIT, f"WhatsApp messaging limit reached ({code}): answers to "
                f"citizens wait {self.limit_pause_seconds // 60:.0f} minutes")
            out.replies_retry.append((time.time() + self.limit_pause_seconds, reply_id))
        else:
            log.info("An answer to a citizen was refused: %s (%s)", error.kind, code)
            out.replies_failed.append(reply_id)

    def _log_reply_hold(self, reason, text, every=60.0):
        """Log why answers wait, once a minute for each reason, not once for every answer."""
        now = time.monotonic()
        if now - self._reply_logged.get(reason, float("-inf")) >= every:
            self._reply_logged[reason] = now
            log.error(text)

    # -- one message ------------------------------------------------------------------------

    def _content(self, conn, broadcast_id):
        content = self.contents.get(broadcast_id)
        if content is None:
            # A broadcast's text never changes once written; read it once.
            content = self.contents[broadcast_id] = deliveries.broadcast_content(
                conn, broadcast_id)
        return content

    async def _send_one(self, item, row):
        content = self._content(self.conn, item.broadcast_id)
        try:
            to = self.vault.decrypt(row[0])
        except DataKeyError:
            log.error("DATA_KEY cannot decrypt a subscriber of broadcast %d: paused. Start "
                      "the worker with the key the numbers were written under (DATA_KEY=new,old "
                      "during a rotation), then resume it.", item.broadcast_id)
            self._pause(item, v.PAUSE_DATA_KEY, None)
            return
        message = platform.OutgoingMessage(
            to=to, body=content.text_in(row[2]), media_url=content.media_url,
            broadcast_id=item.broadcast_id, to_hash=row[1], language=row[2],
            media_type=content.media_type, media_filename=content.media_filename,
            buttons=polls.buttons(item.broadcast_id, content.answers) if content.answers
            else ())
        try:
            message_id = await self.transport.send(message)
        except platform.SendError as error:
            self._handle_error(item, error)
            return
        except Exception:  # noqa: BLE001 - a bug must not strand the delivery in 'sending'
            log.exception("unexpected error sending a delivery of broadcast %d; retrying later",
                          item.broadcast_id)
            self.outcomes.counted_retry.append((time.time() + backoff(item.attempts + 1),
                                                item.delivery_id))
            return
        self.outcomes.sent.append((message_id, item.delivery_id))
        self.sent_total += 1
        self.throttle_level = 0

    def _throttle_delay(self):
        """How long to hold everything after "too many requests": longer while they keep
        coming."""
        now = time.monotonic()
        # A refusal for a request sent before the current hold says nothing new; one that
        # comes after the hold has run out means it was not long enough.
        if now >= self.throttled_until:
            self.throttle_level += 1
            self.throttled_until = now + backoff(self.throttle_level, self.throttle_backoff_cap)
        return self.throttled_until - now

    def _pair_limit_until(self):
        return time.time() + random.uniform(*self.pair_limit_seconds)

    def _handle_error(self, item, error):
        out = self.outcomes
        code = str(error.code) if error.code is not None else None
        if error.kind == v.THROTTLED:
            # Never processed, so never a duplicate and never the recipient's fault: retried
            # until sent, cancelled or expired, without counting toward SEND_MAX_ATTEMPTS.
            delay = self._throttle_delay()
            self.bucket.hold(delay)
            out.retry.append((time.time() + delay, item.delivery_id))
            return
        if error.kind == v.PAIR_LIMIT:
            # Too many messages to this one citizen just now (answers to them, or an earlier
            # broadcast): this message alone goes again in a few seconds, uncounted, like a
            # "too many requests" that concerns nobody else; the bucket is not held.
            out.retry.append((self._pair_limit_until(), item.delivery_id))
            return
        if error.kind == v.UNKNOWN:
            attempts = item.attempts + 1
            if attempts >= self.max_attempts:
                out.failed.append((code or v.RETRIES_EXHAUSTED, v.UNKNOWN, item.delivery_id))
            else:
                out.unknown_retries[item.broadcast_id] = (
                    out.unknown_retries.get(item.broadcast_id, 0) + 1)
                out.counted_retry.append((time.time() + backoff(attempts), item.delivery_id))
            return
        if error.kind == v.CITIZEN_CAP:
            # Held back for this citizen alone, for hours: tried again then, counted apart,
            # never an attempt (nothing was sent twice, nobody did anything wrong).
            out.citizen_capped.append((code, item.delivery_id, self.citizen_cap_seconds))
            return
        if error.kind == v.CREDENTIALS:
            log.error("The platform refused our credentials or sender (%s): broadcast %d "
                      "paused. Fix the configuration, then resume it.", code, item.broadcast_id)
            self._pause(item, v.pause_reason(v.PAUSE_CREDENTIALS, code), None)
            return
        if error.kind == v.MESSAGING_LIMIT:
            log.warning("WhatsApp messaging limit reached (%s): broadcast %d paused for %d "
                        "minutes", code, item.broadcast_id, self.limit_pause_seconds // 60)
            self._pause(item, v.pause_reason(v.PAUSE_MESSAGING_LIMIT, code),
                        now_iso(self.limit_pause_seconds))
            return
        # Anything else is about this message or this citizen: failed, with its kind. One
        # who declined such messages at WhatsApp chose so there; they stay subscribed.
        out.failed.append((code or "unknown", error.kind, item.delivery_id))
        self.chores.warn_hints(item.broadcast_id, {(error.kind, code): 1})
        if error.kind == v.OPTED_OUT:
            out.opted_out.append(item.subscriber_id)

    def _pause(self, item, reason, resume_at):
        self.outcomes.retry.append((0, item.delivery_id))
        if item.broadcast_id in self.sendable:
            self.sendable.discard(item.broadcast_id)
            self.flush()
            with write(self.database) as conn:
                broadcasts.pause(conn, item.broadcast_id, reason, resume_at)
