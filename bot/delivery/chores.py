"""What the worker does beside sending: the daily retention cleanup, forgetting auto-notice
throttle entries once their window is over, and telling the operator once per broadcast what
can be done about its failures.

The minutely checks run in a thread on a connection of their own, so that a slow read never
holds up sending.
"""

import asyncio
import logging
import sqlite3
import time

from .. import vocabulary
from ..store import broadcasts, retention
from ..store.db import connect, now_iso
from ..store.inbound import forget_old_notices

log = logging.getLogger(__name__)

# Failures reported by status callbacks are looked for in broadcasts this recent.
RECENT_SECONDS = 3600


class Chores:
    def __init__(self, database, settings=None, every_seconds=60.0):
        """``settings``: the configuration (retention periods, notice window); None runs no
        cleanup and forgets nothing (unit tests of the send loop)."""
        self.database = database
        self.settings = settings
        self.every_seconds = every_seconds
        self.cleanup_checked = float("-inf")
        self.hinted = set()  # broadcasts whose failure hints have been logged
        self._side = None

    async def run(self, stopping):
        """The minutely checks until ``stopping`` is set; at least once, also in a run that
        ends at once (``worker --until-idle``)."""
        try:
            while True:
                try:
                    await asyncio.to_thread(self._minutely)
                except Exception:  # noqa: BLE001 - a failed check must not stop the sending
                    log.exception("A periodic check failed; trying again in a minute")
                if stopping.is_set():
                    return
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=self.every_seconds)
                except asyncio.TimeoutError:
                    pass
        finally:
            if self._side is not None:
                self._side.conn.close()
                self._side = None

    def _minutely(self):
        if self._side is None:
            path = self.database.conn.execute("PRAGMA database_list").fetchone()[2]
            self._side = connect(path)
        if self.settings is not None:
            forgotten = forget_old_notices(self._side, self.settings["NOTICE_WINDOW_HOURS"] * 3600)
            if forgotten:
                log.info("Forgot %d auto-notice throttle entries older than the window",
                         forgotten)
        conn = self._side.conn
        for broadcast_id in broadcasts.recently_active(conn, now_iso(-RECENT_SECONDS)):
            if broadcast_id not in self.hinted:
                # Failures reported by status callbacks, which the send loop never sees.
                self.warn_hints(broadcast_id, broadcasts.get(conn, broadcast_id)["failures"])

    def warn_hints(self, broadcast_id, failures):
        """Log once per broadcast what the operator can do about its failures."""
        if broadcast_id in self.hinted:
            return
        hints = vocabulary.hints_for(failures)
        if hints:
            self.hinted.add(broadcast_id)
            log.warning("Broadcast %d: %s", broadcast_id, " ".join(hints))

    def cleanup_if_due(self, check_every_seconds=60):
        """The daily retention cleanup; the database knows when it last ran."""
        if self.settings is None:
            return
        if time.monotonic() - self.cleanup_checked < check_every_seconds:
            return
        self.cleanup_checked = time.monotonic()
        try:
            counts = retention.run_if_due(self.database, self.settings)
        except sqlite3.Error:
            log.exception("Retention cleanup failed; trying again in a minute")
            return
        if counts is not None:
            log.info("Retention cleanup: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
