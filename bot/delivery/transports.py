"""Where messages go: the platform (a ``platforms`` module's transport) or, in demo mode, the
local outbox. Both have ``async send(message) -> message id`` and ``async close()``."""

import asyncio

from .. import vocabulary as v
from ..platforms.base import StatusUpdate
from ..store import outbox, statuses
from ..store.db import write

# What the platform reports a moment after it took a message: delivered, then read.
RECEIPTS = ((v.DELIVERED, v.RANK[v.DELIVERED]), (v.READ, v.RANK[v.READ]))


class OutboxTransport:
    """Demo mode: 'sends' into the local outbox table, and reports back as the platform would.

    A moment after a message went into the outbox, it is reported delivered, and a moment
    later read, through the same path as the platform's status callbacks
    (``statuses.record_many``), so that the counts, the console and the charts move in demo
    mode as they do in production. What is still waiting to be reported when the transport
    closes is reported then.
    """

    def __init__(self, database, receipt_seconds=(1.0, 2.5)):
        self.database = database
        self.receipt_seconds = receipt_seconds
        self._reports = set()
        self._waiting = {}  # message id → receipts not reported yet

    async def send(self, message):
        body = message.body
        if message.buttons:
            # The demo shows the buttons a citizen would see under the text.
            body += "\n\n" + "  ".join(f"[{title}]" for _, title in message.buttons)
        with write(self.database) as conn:
            message_id = outbox.add(conn, message.to, message.to_hash, body,
                                    "reply" if message.reply else "broadcast",
                                    message.media_url, message.broadcast_id)
        if message.broadcast_id is not None:
            self._waiting[message_id] = list(RECEIPTS)
            task = asyncio.get_running_loop().create_task(self._report(message_id))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)
        return message_id

    async def _report(self, message_id):
        for delay in self.receipt_seconds:
            await asyncio.sleep(delay)
            self._write(message_id, 1)

    def _write(self, message_id, how_many):
        receipts = self._waiting.get(message_id) or []
        now, later = receipts[:how_many], receipts[how_many:]
        if not now:
            return
        if later:
            self._waiting[message_id] = later
        else:
            self._waiting.pop(message_id, None)
        with write(self.database) as conn:
            statuses.record_many(conn, [StatusUpdate(message_id, status, rank)
                                        for status, rank in now])

    async def close(self):
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)
        for message_id in list(self._waiting):
            self._write(message_id, len(RECEIPTS))
