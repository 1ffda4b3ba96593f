"""What the worker does beside sending: the daily retention cleanup, forgetting auto-notice
throttle entries once their window is over, telling the operator once per broadcast what can
be done about its failures, checking the whole audit chain daily, and relaying the county's
official warnings (``WarningRelay``).

The minutely checks and the relay's database work run in threads on connections of their own,
so that a slow read never holds up sending.
"""

import asyncio
import contextlib
import logging
import sqlite3
import time

from .. import nina, texts, vocabulary
from ..domain import warnings as relaying
from ..store import audit, broadcasts, retention
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
            self._check_audit_trail()
        conn = self._side.conn
        for broadcast_id in broadcasts.recently_active(conn, now_iso(-RECENT_SECONDS)):
            if broadcast_id not in self.hinted:
                # Failures reported by status callbacks, which the send loop never sees.
                self.warn_hints(broadcast_id, broadcasts.get(conn, broadcast_id)["failures"])

    def _check_audit_trail(self):
        """The full check of the audit chain, once every ``CLEANUP_INTERVAL_HOURS``: the
        console's page checks only what is new, and shows when this last ran and what it
        found. Here, in the side thread, because at a million entries it reads for seconds."""
        result = audit.verify_all_if_due(self._side, self.settings["CLEANUP_INTERVAL_HOURS"])
        if result is not None and not result.ok:
            log.error("The audit trail does not verify: entry %d %s (scripts/flask audit "
                      "verify)", result.bad_id, result.reason)
        elif result is not None:
            log.info("Audit trail verified: %d entries", result.checked)

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


class _Stopped(Exception):
    """The worker is stopping: a request to the feed was given up."""


class WarningRelay:
    """Reads the federal warning feed for the county every ``WARNINGS_POLL_SECONDS`` and hands
    what it finds to the domain's rules (``domain.warnings``).

    Whatever the feed does (errors, timeouts, garbage) stays here: it sends nothing, is logged
    as one line when it begins and one when it ends, and is tried again at the next poll; the
    sender beside it never notices. One warning that cannot be relayed (unusable in the feed,
    or failing in the rules) is skipped and logged once per revision; the others are relayed
    and the poll goes on.
    """

    # Revisions whose skipping was logged; forgotten beyond this many (then logged again).
    SKIPPED_KEPT = 10_000

    def __init__(self, database_path, relay, client, ars, every_seconds):
        self.database_path = database_path
        self.relay = relay
        self.client = client
        self.ars = ars
        self.every_seconds = every_seconds
        self.database = None
        self.failing = None  # the reason of the outage under way, if any
        self.settled = set()  # revisions that needed nothing, not read again while running
        self.skipped = set()  # revisions that cannot be relayed and were logged
        self.stopping = None

    @classmethod
    def from_settings(cls, config):
        """The relay this configuration asks for; None without WARNINGS_ARS."""
        if not config.get("WARNINGS_ARS"):
            return None
        relay = relaying.Relay.of(config, texts.load_texts(config))
        client = nina.Client(config["WARNINGS_API_URL"], config["WARNINGS_TIMEOUT_SECONDS"])
        return cls(config["DATABASE_PATH"], relay, client, config["WARNINGS_ARS"],
                   config["WARNINGS_POLL_SECONDS"])

    def describe(self):
        relay = self.relay
        chosen = ("sent at once" if relay.send else "drafts for the press office")
        return (f"Relaying official warnings (NINA) for region {self.ars} every "
                f"{self.every_seconds:g} s from {', '.join(sorted(relay.providers))}: "
                f"{relay.min_severity} and above are {chosen} (at most "
                f"{relay.max_per_poll} from one poll), the rest are drafts")

    async def run(self, stopping):
        """Poll until ``stopping`` is set."""
        self.stopping = stopping
        log.info("%s", self.describe())
        try:
            while not stopping.is_set():
                try:
                    await self.poll()
                except _Stopped:
                    return
                except Exception:  # noqa: BLE001 - a bug here must not stop the sending
                    log.exception("The warnings relay failed; trying again at the next poll")
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=self.every_seconds)
                except asyncio.TimeoutError:
                    pass
        finally:
            await self.close()

    async def close(self):
        await self.client.close()
        if self.database is not None:
            self.database.conn.close()
            self.database = None

    async def poll(self):
        """One poll: the dashboard, the details of what is new, the rules. True when the feed
        answered completely."""
        if self.database is None:
            self.database = connect(self.database_path)
        now = now_iso()
        try:
            entries = await self._fetch(self.client.dashboard(self.ars))
        except nina.FeedError as exc:
            self._trouble(str(exc))
            return False
        for entry in entries:
            if entry.problem and entry.provider in self.relay.providers:
                self._skip((entry.id, entry.hash, entry.problem), entry.id, entry.problem)
        needed = await asyncio.to_thread(
            relaying.wanted, self.database, self.relay, [e for e in entries if not e.problem],
            frozenset(self.settled))
        budget = relaying.Budget(self.relay, needed)
        problems = []
        for entry in needed:
            budget.next(entry)
            revision = (entry.id, entry.version, entry.hash)
            try:
                detail = await self._fetch(self.client.warning(entry.id, self.relay.language))
            except nina.BadWarning as exc:
                # The feed answered; this warning is unusable as it stands. Read again at the
                # next poll (a new revision may mend it), never relayed half-formed.
                self._skip(revision, entry.id, str(exc))
                continue
            except nina.FeedError as exc:
                # Read again at the next poll, never relayed half-formed.
                problems.append(str(exc))
                continue
            try:
                outcome = await asyncio.to_thread(relaying.take, self.database, self.relay,
                                                  entry, detail, now, budget)
            except Exception as exc:  # noqa: BLE001 - one warning must not stop the others
                # Its transaction was rolled back: nothing of it is written.
                self._skip(revision, entry.id, _loggable(exc), exc)
                continue
            budget.spend(outcome)
            if outcome.settled:
                self.settled.add(revision)
            self._report(outcome)
        present = [entry.id for entry in entries]
        for thread in await asyncio.to_thread(relaying.ended_chains, self.database, present,
                                              now, not problems):
            try:
                outcome = await asyncio.to_thread(relaying.end_chain, self.database, self.relay,
                                                  thread, now, budget)
            except Exception as exc:  # noqa: BLE001 - one chain must not stop the others
                self._skip(("all-clear", thread), thread, _loggable(exc), exc)
                continue
            budget.spend(outcome)
            self._report(outcome)
        if problems:
            self._trouble("; ".join(problems))
            return False
        if self.failing is not None:
            log.warning("Official warnings can be read again (NINA); relaying goes on")
            self.failing = None
        return True

    async def _fetch(self, request):
        """The feed's answer, or _Stopped as soon as the worker stops (database work is never
        interrupted, only the wait for the network)."""
        task = asyncio.ensure_future(request)
        stop = asyncio.ensure_future(self.stopping.wait()) if self.stopping else None
        waiting = {task} | ({stop} if stop else set())
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if stop is not None:
            stop.cancel()
        if task not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise _Stopped()
        return task.result()

    def _skip(self, key, warning_id, reason, error=None):
        """Log once per revision that a warning cannot be relayed; a bug shows its traceback
        (once)."""
        if key in self.skipped:
            return
        if len(self.skipped) >= self.SKIPPED_KEPT:
            self.skipped.clear()
        self.skipped.add(key)
        log.warning("Official warning %s cannot be relayed (%s); skipped, the other warnings "
                    "are relayed", warning_id, reason,
                    exc_info=None if isinstance(error, (nina.FeedError, type(None))) else error)

    def _trouble(self, reason):
        if self.failing is None:
            log.warning("Official warnings cannot be read (NINA: %s); nothing is relayed until "
                        "the feed answers, tried again every %g s", reason, self.every_seconds)
        self.failing = reason

    def _report(self, outcome):
        if outcome.broadcast_id is not None:
            log.info("Official warning %s (%s): broadcast %d, %s", outcome.warning_id,
                     outcome.kind.replace("_", "-"), outcome.broadcast_id, outcome.reason)
        else:
            log.info("Official warning %s: nothing to send, %s", outcome.warning_id,
                     outcome.reason)


def _loggable(error):
    """An exception's message as one line the log can take (a warning's text may hold
    characters that cannot be written out, e.g. lone surrogates)."""
    text = f"{type(error).__name__}: {error}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:300].replace("\n", " ")
