"""The sender holds the replica's lease while it sends (fencing): two machines never send.

With ``REPLICA_URL`` set, the worker takes the lease before its first message and renews it
three times per ``REPLICA_LEASE_SECONDS``. It stops sending when the lease names another
machine (a failover happened), and also when it could not renew it for so long that the lease
is about to lapse: the standby may then take over, and from that moment this machine's sends
would be the second sender. When the lease names another machine, it also notes that in the
database, so that this machine's web process takes no change any more (``bot/web/fence.py``).
"""

import asyncio
import logging
import time

from ..store import lease

log = logging.getLogger(__name__)

# Stop this long before the lease would lapse, so that a send in flight ends before the
# standby may take over.
MARGIN_SECONDS = 2.0


class Fenced(Exception):
    """This machine must not send: the message says why (for the worker's exit)."""


class LeaseKeeper:
    def __init__(self, store, owner, seconds, database_path=None):
        self.store = store
        self.owner = owner
        self.seconds = seconds
        self.database_path = database_path  # where to note a failover for the web process
        self.renewed = None  # monotonic time of the last successful renewal
        self.fenced = None   # why sending stopped, once it did

    @classmethod
    def from_settings(cls, config):
        """None without a replica (nothing to fence against), or with one whose store holds
        no lease (sftp: logged)."""
        if not config.get("REPLICA_URL"):
            return None
        store = lease.store_for(config)
        if store is None:
            log.warning("REPLICA_URL %s cannot hold the sender's lease: nothing stops a "
                        "second machine from sending. Use file:// or s3:// for a standby.",
                        config["REPLICA_URL"].split("://")[0] + "://…")
            return None
        return cls(store, lease.identity(config), config["REPLICA_LEASE_SECONDS"],
                   config["DATABASE_PATH"])

    def take(self):
        """Take or renew the lease before the first message. Fenced when another machine
        holds it or the store cannot be reached (sending blind could make two senders)."""
        try:
            lease.hold(self.store, self.owner, self.seconds)
        except lease.LeaseTaken as exc:
            self._replaced(exc.holder)
            raise Fenced(f"Not sending: {exc}") from None
        except OSError as exc:
            raise Fenced(f"Not sending: the sender's lease in {self.store.describe()} could "
                         f"not be taken ({exc}); it is needed so that a standby never sends "
                         "at the same time. Check the replica store and start again.") from None
        self.renewed = time.monotonic()
        log.info("Sender's lease held in %s as %s", self.store.describe(), self.owner)

    async def run(self, sender):
        """Renew until the sender stops; stop the sender when this machine is fenced."""
        every = self.seconds / 3
        while not sender.stopping.is_set():
            try:
                await asyncio.wait_for(sender.stopping.wait(), timeout=every)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await asyncio.to_thread(lease.hold, self.store, self.owner, self.seconds)
                self.renewed = time.monotonic()
            except lease.LeaseTaken as exc:
                await asyncio.to_thread(self._replaced, exc.holder)
                self._fence(f"Sending stopped: {exc}")
                sender.stop()
                return
            except Exception as exc:  # noqa: BLE001 - a store that does not answer
                left = self.renewed + self.seconds - MARGIN_SECONDS - time.monotonic()
                if left <= 0:
                    self._fence(f"Sending stopped: the sender's lease in "
                                f"{self.store.describe()} could not be renewed for "
                                f"{self.seconds:.0f} seconds ({exc}); a standby may take "
                                "over now.")
                    sender.stop()
                    return
                log.warning("Could not renew the sender's lease (%s); %.0f s until sending "
                            "stops", exc, left)

    def _replaced(self, holder):
        """Another machine took over: this one's web process must take no change either."""
        if self.database_path is not None:
            lease.mark_replaced(self.database_path, holder.owner)

    def _fence(self, why):
        self.fenced = why
        log.error(why)
