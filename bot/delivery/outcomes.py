"""What the sender keeps between its writes: the results gathered as messages come back
(written in one short transaction every tenth of a second), and a claimed batch."""

from dataclasses import dataclass, field


class Outcomes:
    """Send results waiting to be written; flushed in one short transaction."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.sent, self.failed, self.skipped, self.retry = [], [], [], []
        self.counted_retry = []
        self.unknown_retries = {}
        self.opted_out = []

    def __len__(self):
        return (len(self.sent) + len(self.failed) + len(self.skipped) + len(self.retry)
                + len(self.counted_retry))


@dataclass
class Batch:
    """Deliveries claimed in one transaction, with what the loop needs to send them."""

    claimed: list
    departures: int              # subscriptions ended so far, when it was claimed
    recipients: dict = field(default_factory=dict)   # {subscriber id: (enc, hash, language)}
    limit_paused: list = field(default_factory=list)
