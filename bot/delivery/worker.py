"""The worker process: a sender built from the configuration, run until SIGTERM or idle, and
beside it the relay of official warnings when ``WARNINGS_ARS`` is set.

Only one sender may work on a database: a second one would hand the first one's deliveries in
flight back to the queue (they look like a crash's leftovers to it) and citizens would get the
message twice. So a sender first takes an exclusive lock on ``<DATABASE_PATH>-sender.lock``;
the kernel releases it when the process ends however it ends, so a sender that was killed is
replaced by the next start at once. With ``REPLICA_URL`` it also holds the lease in the replica
store (``fencing``), so that a standby promoted by a failover and this machine never both send.
"""

import asyncio
import fcntl
import logging
import os
import signal

import uvloop

from .. import platforms
from ..domain import announcements
from ..process import tune_gc
from ..store.db import connect
from .chores import Chores, WarningRelay
from .fencing import Fenced, LeaseKeeper
from .sender import Sender
from .transports import OutboxTransport

log = logging.getLogger(__name__)


class SenderRunning(Exception):
    """Another sender holds the lock; the message says where and which process."""


def lock_path(config):
    return f"{config['DATABASE_PATH']}-sender.lock"


def take_sender_lock(config):
    """The open lock file, held for as long as this process lives; SenderRunning when another
    process holds it. Nothing else is touched before this succeeds."""
    path = lock_path(config)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise SenderRunning(
            f"a sender is already running on this database (lock {path}, held by process "
            f"{holder}); this one exits without touching anything. Run exactly one worker.")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def build(config, vault, demo):
    """A Sender for this configuration (the platform, or the outbox in demo mode)."""
    database = connect(config["DATABASE_PATH"])
    if demo:
        transport = OutboxTransport(connect(config["DATABASE_PATH"]))
    else:
        rate = config["SEND_RATE_LIMIT"]
        # Connections for the broadcast's requests in flight, and to spare for the answers
        # to citizens that go out beside them.
        in_flight = config["SEND_CONCURRENCY"] or int(rate * 0.4)
        transport = platforms.get(config["WHATSAPP_PLATFORM"]).transport_from(
            config, max_connections=max(64, in_flight + Sender.REPLY_CONCURRENCY))
    return Sender(
        database, vault, transport, rate=config["SEND_RATE_LIMIT"],
        media_rate=config.get("SEND_RATE_LIMIT_MEDIA"),
        concurrency=config["SEND_CONCURRENCY"], batch_size=config["SEND_BATCH_SIZE"],
        max_attempts=config["SEND_MAX_ATTEMPTS"], poll_seconds=config["SENDER_POLL_SECONDS"],
        limit_pause_seconds=config["LIMIT_PAUSE_MINUTES"] * 60,
        text_limit=announcements.text_limit(announcements.template_mode(config)),
        chores=Chores(database, config))


async def serve(config, vault, demo, until_idle=False):
    """Run a sender until SIGTERM/SIGINT (or until idle), then close cleanly.

    The warnings relay runs beside it in the service, not in a run that only empties the queue
    (``--until-idle``): what it found would be left for the next worker anyway.
    """
    lock = take_sender_lock(config)
    try:
        keeper = LeaseKeeper.from_settings(config)
        if keeper is not None:
            await asyncio.to_thread(keeper.take)
        return await _serve(config, vault, demo, until_idle, keeper)
    finally:
        os.close(lock)


async def _serve(config, vault, demo, until_idle, keeper=None):
    sender = build(config, vault, demo)
    relay = None if until_idle else WarningRelay.from_settings(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, sender.stop)
    log.info("Sender running at up to %.0f messages/s (%s)", sender.bucket.rate,
             "demo outbox" if demo else config["WHATSAPP_PLATFORM"])
    relaying = asyncio.create_task(relay.run(sender.stopping)) if relay else None
    leasing = asyncio.create_task(keeper.run(sender)) if keeper else None
    try:
        await sender.run(until_idle=until_idle)
    finally:
        sender.stop()
        if relaying is not None:
            await relaying
        if leasing is not None:
            await leasing
        await sender.transport.close()
        sender.database.conn.close()
    log.info("Sender stopped after %d messages", sender.sent_total)
    if keeper is not None and keeper.fenced:
        raise Fenced(keeper.fenced)
    return sender.sent_total


def run(config, vault, demo, until_idle=False):
    """The worker process: ``serve`` on uvloop's event loop, which spends less CPU than
    asyncio's on every request the sender makes."""
    tune_gc()
    return uvloop.run(serve(config, vault, demo, until_idle=until_idle))
