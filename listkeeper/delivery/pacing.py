"""Pacing the hand-off to SES's send rate, counted in recipients per second.

SES answers `454 Throttling failure` when an account goes over its maximum
send rate, and counts every recipient. The pacer spaces sends evenly (n
recipients take n/rate seconds of the schedule, so there are no bursts) and,
as a hard guarantee, never lets any one-second window hold more than `rate`
recipients, even when transactions carry several recipients each.

Several workers share one SES account. Each worker paces at
SES_MAX_SEND_RATE divided by the number of live workers (those with a recent
WorkerHeartbeat), recounted at every heartbeat, so the sum never exceeds the
account's rate; see `share_of_rate`. A rate of 0 means unpaced.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable


def share_of_rate(account_rate: float, live_workers: int) -> float:
    """This worker's share of the account's rate; 0 stays 0 (unpaced)."""
    if account_rate <= 0:
        return 0.0
    return account_rate / max(1, live_workers)


def max_batch(rate: float, limit: int = 50) -> int:
    """Recipients one transaction may carry so that it fits one second's budget."""
    if rate <= 0:
        return limit
    return max(1, min(limit, math.floor(rate)))


# Sends are spaced for 1% under the rate. Exactly 1/rate apart, any delay in
# the network or in Postfix between two sends a second apart (a few
# milliseconds) would put rate + 1 recipients into one second as SES counts.
HEADROOM = 0.99


class Pacer:
    """Evenly spaced sends with a sliding one-second cap. Not thread-safe: one event loop."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, headroom: float = HEADROOM
    ) -> None:
        self._clock = clock
        self._headroom = headroom
        self._rate = rate
        self._next = 0.0
        self._window: collections.deque[tuple[float, int]] = collections.deque()
        self._in_window = 0

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        self._rate = rate

    def delay(self, n: int) -> float:
        """Seconds to wait before n recipients may go, reserving their slot.

        The caller must send right after the returned delay has passed.
        """
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        start = max(now, self._next)
        # The hard cap: drop sends older than a second before `start`, then
        # wait until enough of them have aged out for n more to fit.
        budget = max(n, math.floor(self._rate))
        while True:
            while self._window and self._window[0][0] <= start - 1.0:
                self._in_window -= self._window.popleft()[1]
            if self._in_window + n <= budget or not self._window:
                break
            start = self._window[0][0] + 1.0
        self._next = start + n / (self._rate * self._headroom)
        self._window.append((start, n))
        self._in_window += n
        return start - now

    async def acquire(self, n: int = 1) -> None:
        wait = self.delay(n)
        if wait > 0:
            await asyncio.sleep(wait)
