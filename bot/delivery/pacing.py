"""How fast and how often: the token bucket that keeps every second under the rate, and the
backoff between retries."""

import asyncio
import random
import time
from collections import deque


class TokenBucket:
    """At most ``rate`` in any one second, with a burst of a fiftieth of a second's worth.

    A caller that finds the bucket empty sleeps until a few tokens are there (about 5 ms'
    worth), not until the next one: at a thousand messages a second, waking for each one
    cost more CPU than sending it. The rate over any second is the same.

    A priority take (an answer to a citizen who is waiting for it) gets the next token before
    any ordinary one (a broadcast's): one bucket for everything the number sends, since the
    platform's ceiling counts it all.

    A busy sender that comes back late (its loop was held up: a slow claim, the platform slow
    to answer, the machine busy) finds more tokens than the burst holds. They are owed, not
    lost: handed out on top of the rate, a quarter faster at most, as far as the last second's
    sends leave room; a sender that sent nothing for a second is owed nothing. Any one-second
    window holds at most ``rate`` takes, counted, not only on average: above its ceiling one
    platform refuses what it is sent, the other queues it. So a pause right after a full
    second at the rate stays lost (that second leaves no room); the many small ones of a
    busy night, each in a second the one before had left short, are made up.
    """

    # How much faster than the rate owed tokens are handed out: a stall is made up within
    # a few of its own lengths, without bursts.
    CATCH_UP = 0.25

    def __init__(self, rate, within=None):
        self.rate = rate
        # A bucket for part of what goes out (pictures) inside the one for all of it: a hold
        # of the whole holds the part too. Else its tokens, taken while the whole is held,
        # would all go out together when the hold ends (with several takers at once).
        self.within = within
        self.capacity = max(1.0, rate / 50)
        self.refill = min(self.capacity, max(1.0, rate / 200))
        self.tokens = self.capacity
        self.owed = 0.0
        self.made_up = 0.0   # owed tokens handed out so far
        self.updated = time.monotonic()
        self.last_taken = float("-inf")
        self.per_second = max(1, int(rate))
        self.window = deque()   # when each take of the last second was made
        self.blocked_until = 0.0
        self.priority_waiting = 0

    def hold(self, seconds):
        """Send nothing for a while (the platform said: too many requests)."""
        self.blocked_until = max(self.blocked_until, time.monotonic() + seconds)
        self.tokens = 0.0
        self.owed = 0.0   # too many already: nothing is made up

    def _fill(self, now):
        """Tokens (and owed ones) for the time since the last look; the seconds until the
        window has room again, 0 if it has."""
        window = self.window
        while window and window[0] <= now - 1.0:
            window.popleft()
        elapsed = max(0.0, now - self.updated)
        self.updated = now
        paid = min(self.owed, elapsed * self.rate * self.CATCH_UP)
        self.owed -= paid
        self.made_up += paid
        tokens = self.tokens + elapsed * self.rate + paid
        if tokens > self.capacity:
            if now - self.last_taken < 1.0:
                self.owed += tokens - self.capacity
            tokens = self.capacity
        self.tokens = tokens
        room = self.per_second - len(window)
        # Owed only what this second can still take: when the window is full, nothing.
        self.owed = max(0.0, min(self.owed, room - tokens))
        return 0.0 if room >= 1 else window[0] + 1.0 - now

    async def take(self, priority=False):
        if priority:
            self.priority_waiting += 1
        try:
            while True:
                now = time.monotonic()
                blocked_until = max(self.blocked_until,
                                    self.within.blocked_until if self.within else 0.0)
                if now < blocked_until:
                    await asyncio.sleep(blocked_until - now)
                    self.updated = time.monotonic()
                    continue
                full = self._fill(now)
                if not full and self.tokens >= 1 and (priority or not self.priority_waiting):
                    self.tokens -= 1
                    self.window.append(now)
                    self.last_taken = now
                    return
                if full:
                    await asyncio.sleep(full)
                    continue
                # An ordinary take that finds a token a priority one waits for leaves it to
                # that one, and looks again a token's time later.
                wanted = self.refill - self.tokens if self.tokens < 1 else 1.0
                await asyncio.sleep(wanted / self.rate)
        finally:
            if priority:
                self.priority_waiting -= 1


def backoff(attempts, cap=120.0):
    """Seconds before the next try: 1, 2, 4 … cap, with jitter so retries do not march."""
    return min(cap, 2 ** min(max(0, attempts - 1), 32)) * random.uniform(0.8, 1.2)
