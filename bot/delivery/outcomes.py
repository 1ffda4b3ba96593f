"""The sender's results waiting to be written: gathered as messages come back, written in one
short transaction every tenth of a second (``Sender.flush``)."""


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
