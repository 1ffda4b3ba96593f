"""``replica run`` (the Procfile's ``replica``), ``replica follow``, ``replica status`` and
``failover``: the database's copy off the box, a standby that keeps it current, and the
promotion of that standby when the primary is gone.
"""

import contextlib
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from ..delivery import worker
from ..store import lease
from ..store import replica as replication

log = logging.getLogger(__name__)

# Side files of a database that a restored copy must not inherit: the old WAL and index would
# be applied to the new file, and Litestream's local state belongs to the replaced one.
_STALE = ("-wal", "-shm", "-journal")


class _Stopped(Exception):
    pass


def _on_sigterm(_signum, _frame):
    raise _Stopped


@contextlib.contextmanager
def _stoppable():
    """SIGTERM and SIGINT end the command cleanly (exit 0), wherever it waits."""
    previous = {sig: signal.signal(sig, _on_sigterm) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _idle(reason):
    """Say once why nothing runs, then wait for SIGTERM: process managers such as foreman
    stop every process of the Procfile when one of them exits."""
    click.echo(f"Infokanal replica: {reason}", err=True)
    with _stoppable():
        while True:
            signal.pause()


def _lease_owner_elsewhere(config):
    """The lease's holder when it names another machine (this one was replaced), else None."""
    store = lease.store_for(config)
    if store is None:
        return None
    holder, _ = store.read()
    if holder is not None and holder.owner != lease.identity(config):
        return holder
    return None


def _die_with_parent():
    """In the child before it runs Litestream: SIGKILL when this process ends (Linux)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


def _supervise(command, config, check_lease):
    """Run Litestream until SIGTERM (then stop it and exit 0) or until it ends (then exit with
    its code). With ``check_lease``, stop it and stay idle once the lease names another
    machine: a replaced primary must not write to the copy the standby now owns."""
    # In a session of its own: a SIGTERM to this process group (foreman, a terminal's Ctrl+C)
    # reaches Litestream once, from here; a second one would cut its last sync short. Should
    # this process die without stopping it (SIGKILL, a crash), the kernel kills it too: a
    # Litestream left behind would go on writing to the replica unsupervised.
    child = subprocess.Popen(command, env=replication.environment(config),
                             start_new_session=True, preexec_fn=_die_with_parent)
    every = config["REPLICA_LEASE_SECONDS"] / 3
    try:
        with _stoppable():
            while True:
                try:
                    code = child.wait(timeout=every)
                except subprocess.TimeoutExpired:
                    code = None
                if code is not None:
                    raise click.exceptions.Exit(code)
                if check_lease:
                    try:
                        holder = _lease_owner_elsewhere(config)
                    except OSError as exc:
                        log.warning("Could not read the sender's lease: %s", exc)
                        continue
                    if holder is not None:
                        child.terminate()
                        child.wait(timeout=30)
                        lease.mark_replaced(config["DATABASE_PATH"], holder.owner)
                        _idle(f"replication stopped: the lease names {holder.owner}, which "
                              "took over in a failover. This machine must not write to the "
                              "replica any more.")
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


@click.group("replica")
def replica_group():
    """The database's copy off the box (Litestream): run, follow, status."""


@replica_group.command("run")
@with_appcontext
def run_command():
    """Replicate the database to REPLICA_URL (the Procfile's "replica"); without it, stay idle."""
    config = current_app.config
    if not config["REPLICA_URL"]:
        _idle("REPLICA_URL is not set, so the database is not replicated; this process stays "
              "idle (README: Standby and failover).")
        return
    try:
        holder = _lease_owner_elsewhere(config)
    except OSError as exc:
        # Litestream retries a store that does not answer; the lease is checked again while
        # it runs. Exiting would stop every process of the Procfile with it.
        log.warning("The sender's lease cannot be read (%s); replicating, and checking it "
                    "again while replicating", exc)
        holder = None
    if holder is not None:
        lease.mark_replaced(config["DATABASE_PATH"], holder.owner)
        _idle(f"not replicating: the sender's lease names {holder.owner}, which took over in "
              "a failover. This machine's database is older than the copy it restored; set "
              "this machine up again as a standby.")
        return
    path = replication.write_config(config)
    log.info("Replicating %s to %s", config["DATABASE_PATH"],
             replication.store_label(config["REPLICA_URL"]))
    _supervise([replication.binary(), "replicate", "-config", path], config, check_lease=True)


@replica_group.command("follow")
@with_appcontext
def follow_command():
    """Keep a read-only copy of the primary's database current (on the standby)."""
    config = current_app.config
    if not config["REPLICA_URL"]:
        _idle("REPLICA_URL is not set: there is nothing to follow; this process stays idle.")
        return
    output = replication.follow_path(config)
    path = replication.write_config(config)
    for suffix in ("", *_STALE, "-txid"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{output}{suffix}")
    click.echo(f"Following {replication.store_label(config['REPLICA_URL'])} into {output} "
               "(read-only; 'scripts/flask failover' promotes this machine)", err=True)
    _supervise([replication.binary(), "restore", "-f", "-config", path, "-o", output,
                replication.database_path(config)], config, check_lease=False)


@replica_group.command("status")
@with_appcontext
def status_command():
    """Say how far the replica (and this standby's copy) is behind, and who holds the lease."""
    config = current_app.config
    if not config["REPLICA_URL"]:
        raise click.ClickException("REPLICA_URL is not set: nothing is replicated.")
    click.echo(f"Replica: {replication.store_label(config['REPLICA_URL'])}")
    try:
        txid, at = replication.replica_position(config)
    except OSError as exc:
        raise click.ClickException(f"the replica store cannot be read: {exc}") from None
    click.echo(f"Newest change in the replica: transaction {txid}"
               + (f" of {at}" if at else " (it holds nothing yet)"))
    local = replication.local_position(config)
    if local is not None:
        click.echo(f"This primary: transaction {local}, the replica is "
                   f"{max(0, local - txid)} transactions behind")
    followed = replication.follow_position(config)
    if followed:
        click.echo(f"This standby's copy: transaction {followed}, "
                   f"{max(0, txid - followed)} transactions behind the replica")
    store = lease.store_for(config)
    if store is not None:
        try:
            holder, _ = store.read()
        except OSError as exc:
            raise click.ClickException(f"the lease cannot be read: {exc}") from None
        if holder is None:
            click.echo("Sender's lease: nobody holds it yet")
        else:
            me = " (this machine)" if holder.owner == lease.identity(config) else ""
            remaining = holder.remaining()
            click.echo(f"Sender's lease: {holder.owner}{me}, generation {holder.generation}, "
                       + (f"valid for {remaining:.0f} more seconds" if remaining
                          else f"lapsed {time.time() - holder.expires:.0f} seconds ago"))


class FailoverRefused(Exception):
    """Failover cannot go ahead; the message says why and what to do."""


def failover(config):
    """Promote this machine: refuse while the primary's lease is valid, restore the replica's
    latest state over DATABASE_PATH, check its integrity, take the lease. Returns what to
    tell the operator. The sender lock is held throughout, so no sender starts here meanwhile."""
    if not config["REPLICA_URL"]:
        raise FailoverRefused("REPLICA_URL is not set: there is no replica to fail over to.")
    store = lease.store_for(config)
    if store is None:
        raise FailoverRefused(f"{config['REPLICA_URL'].split(':')[0]}:// replicas hold no "
                              "lease, so a failover could leave two senders: use file:// or "
                              "s3://.")
    me = lease.identity(config)
    holder, _ = store.read()
    if holder is not None and holder.owner != me and holder.remaining() > 0:
        raise FailoverRefused(
            f"the primary {holder.owner} still holds the sender's lease for "
            f"{holder.remaining():.0f} more seconds (renewed {time.time() - holder.renewed:.0f}"
            f" seconds ago): it may still be sending. Wait {holder.remaining():.0f} seconds "
            "(or stop the primary) and run this again.")
    try:
        lock = worker.take_sender_lock(config)
    except worker.SenderRunning as exc:
        raise FailoverRefused(f"a sender runs on this machine already: {exc}") from None
    try:
        target = replication.database_path(config)
        restoring = f"{target}-restoring"
        replication.restore(config, restoring)
        conn = sqlite3.connect(restoring)
        try:
            verdict = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            subscribers = conn.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0]
        finally:
            conn.close()
        if verdict != ["ok"]:
            raise FailoverRefused(f"the restored copy fails its integrity check: "
                                  f"{'; '.join(verdict[:5])}. Nothing was changed here.")
        try:
            taken = lease.take_over(store, me, config["REPLICA_LEASE_SECONDS"])
        except lease.LeaseHeld as exc:
            raise FailoverRefused(str(exc)) from None
        for suffix in _STALE:
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{target}{suffix}")
        os.replace(restoring, target)
        lease.clear_replaced(target)
        # Litestream's own bookkeeping of the replaced file: the next `replica run` starts
        # afresh from the restored database.
        directory, name = os.path.split(target)
        shutil.rmtree(os.path.join(directory, f".{name}-litestream"), ignore_errors=True)
    finally:
        os.close(lock)
    return (f"Failover done: {target} restored from "
            f"{replication.store_label(config['REPLICA_URL'])} ({subscribers} subscribers, "
            f"integrity ok); this machine ({me}) holds the sender's lease, generation "
            f"{taken.generation}. Start the service here now (scripts/run, or the systemd "
            "units).")


@click.command("failover")
@with_appcontext
def failover_command():
    """Promote this standby: restore the latest state, check it, take the sender's lease."""
    try:
        click.echo(failover(current_app.config))
    except FailoverRefused as exc:
        raise click.ClickException(f"Failover refused: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"Failover failed: {exc}. Nothing is promoted; run it "
                                   "again once the replica store answers.") from None


def init_app(app):
    app.cli.add_command(replica_group)
    app.cli.add_command(failover_command)
