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
        # Held back by the platform's cap per citizen: [(code, delivery_id, seconds)].
        self.citizen_capped = []
        # Answers to citizens (store.replies): ids sent or failed for good, [(when, id)] to try
        # again, uncounted or counted (unknown outcomes).
        self.replies_sent, self.replies_failed = [], []
        self.replies_retry, self.replies_counted_retry = [], []

    def __len__(self):
        return (len(self.sent) + len(self.failed) + len(self.skipped) + len(self.retry)
                + len(self.counted_retry) + len(self.citizen_capped) + len(self.replies_sent)
                + len(self.replies_failed) + len(self.replies_retry)
                + len(self.replies_counted_retry))


@dataclass
class Batch:
    """Deliveries claimed in one transaction, with what the loop needs to send them."""

    claimed: list
    departures: int              # subscriptions ended so far, when it was claimed
    recipients: dict = field(default_factory=dict)   # {subscriber id: (enc, hash, language)}
    limit_paused: list = field(default_factory=list)
