"""Group commit for the status callbacks the web process takes (``front``, ``connection``):
Twilio's one status per request, Meta's one or many per post."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from ..store import statuses
from ..store.db import connect, write

log = logging.getLogger(__name__)


def _settle(future, exc):
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


class StatusWriter:
    """Group commit for status callbacks: what arrives within ``interval`` is written in one
    transaction, and only then acknowledged.

    Durable as every other write here is (WAL, synchronous=NORMAL): a crash of any process
    loses nothing that was answered 200; a power cut may lose the last commits. Syncing each
    group to disk as well cost about 35 µs of CPU per callback, a tenth of the whole budget.

    Every 50 ms: a callback's answer waits that long at most (the platform waits 15 s), and
    five times as many callbacks share a commit as at 10 ms. Those of messages sent one after
    the other touch the same pages, so each commit writes fewer pages per callback (on the
    storm night a few per cent of the web process's CPU).
    """

    def __init__(self, path, interval=0.05, max_batch=2000):
        self.path = path
        self.interval = interval
        self.max_batch = max_batch
        self.pending = []  # [([update, …], done)]: one entry per request
        self._pending_updates = 0
        self._wake = None
        self._task = None
        self._stopping = False
        # One thread, one connection: the writes never wait for Flask's threads.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="status-writer")
        self._database = None

    def start(self):
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self):
        """Commit and answer everything queued, then stop.

        The loop is asked to end rather than cancelled: a cancel arriving while a commit runs
        in the writer's thread would leave that batch stored but never answered.
        """
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        while self.pending:
            await self._commit_pending()
        self._executor.shutdown(wait=True)

    async def submit(self, update):
        """Store ``update``; returns once it is committed, raises if the write failed."""
        await self.submit_group([update])

    async def submit_group(self, updates):
        """Store ``updates`` (all one request carried) in one commit; returns once it is
        committed, raises if the write failed."""
        future = asyncio.get_running_loop().create_future()
        self.submit_group_nowait(updates, lambda exc: _settle(future, exc))
        await future

    def submit_nowait(self, update, done):
        """Store ``update`` and call ``done(None)`` once it is committed, or ``done(exc)``
        when the write failed; on the event loop either way."""
        self.submit_group_nowait([update], done)

    def submit_group_nowait(self, updates, done):
        """``submit_nowait`` for all the updates of one request: they are never split across
        commits, so that the request's answer speaks for all of them (a 503 means none was
        stored, and the platform sends them all again)."""
        self.pending.append((updates, done))
        self._pending_updates += len(updates)
        self._wake.set()

    async def _run(self):
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            # A moment for the callbacks arriving together to share the transaction.
            if self._pending_updates < self.max_batch and not self._stopping:
                await asyncio.sleep(self.interval)
            await self._commit_pending()

    async def _commit_pending(self):
        # Whole requests, up to max_batch updates (one request more than that goes alone).
        pending, size = self.pending, self._pending_updates
        if size <= self.max_batch:
            batch, self.pending = pending, []
        else:
            taken, size = 0, 0
            while taken < len(pending) and (size == 0 or size + len(pending[taken][0])
                                            <= self.max_batch):
                size += len(pending[taken][0])
                taken += 1
            batch, self.pending = pending[:taken], pending[taken:]
        self._pending_updates -= size
        if not batch:
            return
        if self.pending:
            self._wake.set()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._write,
                                       [u for updates, _ in batch for u in updates])
        except Exception as exc:  # noqa: BLE001 - every waiting callback learns it failed
            log.exception("Storing %d status reports failed; their requests are answered 503",
                          size)
            failed = exc
        else:
            failed = None
        for _, done in batch:
            try:
                done(failed)
            except Exception:  # noqa: BLE001 - one answer failing does not stop the others
                log.exception("Answering a status callback failed")

    def _write(self, updates):
        if self._database is None:
            self._database = connect(self.path)
        with write(self._database) as conn:
            statuses.record_many(conn, updates)
