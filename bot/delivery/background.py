"""The sender's writes, on a connection and a thread of their own.

Claiming the next batch and writing what came back both take the database's write lock, which
the web process's callbacks and webhooks take too. Waited for on the event loop, every wait
was a moment in which nothing was sent; in this thread, the loop goes on sending. One thread,
so the writes happen in the order they were handed over.
"""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from ..store import citizen_cap, deliveries, replies, subscribers
from ..store.db import connect, write
from .outcomes import Batch


class Background:
    def __init__(self, path):
        self.database = connect(path)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sender-writes")

    async def run(self, function, *args):
        """``function(database, *args)`` in the thread; its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, self.database, *args)

    def close(self):
        self._executor.shutdown(wait=True)
        self.database.conn.close()


def write_outcomes(database, out):
    """What came back from sending (``Outcomes``), in one short transaction."""
    with write(database) as conn:
        deliveries.record_outcomes(conn, out.sent, out.failed, out.skipped, out.retry,
                                   out.unknown_retries, out.counted_retry)
        if out.citizen_capped:
            citizen_cap.retry(conn, out.citizen_capped)
        for subscriber_id in out.opted_out:
            subscribers.unsubscribe_by_id(conn, subscriber_id, "platform-opt-out")
        replies.sent(conn, out.replies_sent)
        replies.failed(conn, out.replies_failed)
        if out.replies_retry:
            replies.retry(conn, out.replies_retry)
        if out.replies_counted_retry:
            replies.retry(conn, out.replies_counted_retry, counted=True)


def claim_replies(database, limit, now):
    """Up to ``limit`` due answers to citizens, marked as being sent (store.replies.claim)."""
    with write(database) as conn:
        return sorted(replies.claim(conn, limit, now))


def claim(database, batch_size, limit_pause_seconds, text_limit=None):
    """Housekeeping, then up to ``batch_size`` due deliveries of the first broadcast that has
    any (urgent first), with their recipients: a ``Batch``. ``text_limit``: the most
    characters a broadcast's text may have now (``deliveries.housekeeping``)."""
    with write(database) as conn:
        limit_paused = deliveries.housekeeping(conn, limit_pause_seconds, text_limit)
        order = deliveries.active_order(conn)
        claimed = []
        for broadcast_id in order:
            claimed = deliveries.claim(conn, broadcast_id, batch_size, time.time())
            if claimed:
                break
        # In the same transaction, so that a Stop committed after it moves the count.
        batch = Batch(claimed, deliveries.departures(conn), {}, limit_paused)
        if claimed:
            content = deliveries.broadcast_content(conn, claimed[0].broadcast_id)
            batch.recipients = deliveries.recipients(
                conn, [c.subscriber_id for c in claimed], content.urgent, content.topics)
    return batch


def write_then_claim(database, out, batch_size, limit_pause_seconds, text_limit=None):
    if out is not None:
        write_outcomes(database, out)
    return claim(database, batch_size, limit_pause_seconds, text_limit)
