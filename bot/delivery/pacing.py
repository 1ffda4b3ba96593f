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

    A priority take (an answer to a citizen who is waiting for it) gets the next token before
    any ordinary one (a broadcast's): one bucket for everything the number sends, since the
    platform's ceiling counts it all.

    A take may cost more than one token: a picture, which the platform lets through at a lower
    rate than text, costs ``rate / picture rate`` of them. So one bucket paces both, and a
    picture broadcast goes at the picture rate while answers still fit in beside it.
    """

    def __init__(self, rate):
        self.rate = rate
        self.capacity = max(1.0, rate / 50)
        self.refill = min(self.capacity, max(1.0, rate / 200))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.blocked_until = 0.0
        self.priority_waiting = 0

    def hold(self, seconds):
        """Send nothing for a while (the platform said: too many requests)."""
        self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)
        self.tokens = 0.0

    async def take(self, priority=False, cost=1.0):
        # A take dearer than the burst may still save up for itself, but no more: the bucket
        # never holds more than one such take's worth.
        ceiling = max(self.capacity, cost)
        if priority:
            self.priority_waiting += 1
        try:
            while True:
                now = time.monotonic()
                if now < self.blocked_until:
                    await asyncio.sleep(self.blocked_until - now)
                    self.updated = time.monotonic()
                    continue
                self.tokens = min(ceiling, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= cost and (priority or not self.priority_waiting):
                    self.tokens -= cost
                    return
                # An ordinary take that finds a token a priority one waits for leaves it to
                # that one, and looks again a token's time later.
                wanted = (max(cost, self.refill) - self.tokens if self.tokens < cost
                          else 1.0)
                await asyncio.sleep(wanted / self.rate)
        finally:
            if priority:
                self.priority_waiting -= 1


def backoff(attempts, cap=120.0):
    """Seconds before the next try: 1, 2, 4 … cap, with jitter so retries do not march."""
    return min(cap, 2 ** min(max(0, attempts - 1), 32)) * random.uniform(0.8, 1.2)
