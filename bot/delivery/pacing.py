"""How fast and how often: the token bucket that keeps every second under the rate, and the
backoff between retries."""

import asyncio
import random
import time


class TokenBucket:
    """At most ``rate`` per second, with a burst of a fiftieth of a second's worth.

    A caller that finds the bucket empty sleeps until a few tokens are there (about 5 ms'
    worth), not until the next one: at a thousand messages a second, waking for each one
    cost more CPU than sending it. The rate over any second is the same.
    """

    def __init__(self, rate):
        self.rate = rate
        self.capacity = max(1.0, rate / 50)
        self.refill = min(self.capacity, max(1.0, rate / 200))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.blocked_until = 0.0

    def hold(self, seconds):
        """Send nothing for a while (the platform said: too many requests)."""
        self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)
        self.tokens = 0.0

    async def take(self):
        while True:
            now = time.monotonic()
            if now < self.blocked_until:
                await asyncio.sleep(self.blocked_until - now)
                self.updated = time.monotonic()
                continue
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((self.refill - self.tokens) / self.rate)


def backoff(attempts, cap=120.0):
    """Seconds before the next try: 1, 2, 4 … cap, with jitter so retries do not march."""
    return min(cap, 2 ** min(max(0, attempts - 1), 32)) * random.uniform(0.8, 1.2)
