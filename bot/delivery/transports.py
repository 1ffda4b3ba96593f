"""Where messages go: the platform (``twilio_gateway.TwilioTransport``) or, in demo mode, the
local outbox. Both have ``async send(message) -> message id`` and ``async close()``."""

from ..store import outbox
from ..store.db import write


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
