"""Pacing the hand-off to SES's send rate, counted in recipients per second.

SES answers `454 Throttling failure` when an account goes over its maximum
send rate, and counts every recipient. The pacer spaces sends evenly (n
recipients take n/rate seconds of the schedule, so there are no bursts) and,
as a hard guarantee, never lets any window of 1/headroom seconds hold more
than `rate` recipients, even when transactions carry several recipients each.

The cap's window is that long, not one second, so that it keeps the margin
the even spacing gives. With a one-second cap, a loop that woke late (a busy
machine, a slow database call) sent the slots it had missed together and
then went on at the schedule: 21 consecutive copies at 20/s went within
1.000 s (measured at the worker's hand-off, and in the simulation in
tests/delivery/test_pacing.py), so SES saw 21 in a second whenever Postfix
moved the first of them a millisecond slower than the last. With the longer
window, any rate + 1 consecutive copies span at least 1/headroom seconds,
stall or not: 31 ms of room for Postfix at 0.97.

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


# Sends are spaced for a little under the rate (SES_RATE_HEADROOM in
# production). Exactly 1/rate apart, any delay in Postfix between two sends a
# second apart would put rate + 1 recipients into one second as SES counts; at
# a headroom h, two copies `rate` sends apart are 1/h seconds apart, so SES
# sees more than the rate in a second only when Postfix holds the first
# 1/h - 1 seconds longer than the second (0.98: 20 ms; 0.96: 42 ms).
HEADROOM = 0.99
# After a pause (or at start) the rate climbs from RAMP_FLOOR of itself to all
# of it over RAMP seconds. Postfix opens its connections to SES anew after a
# pause (it keeps them 2 s); the copies that wait for the TLS handshake (D,
# 0.1-0.25 s) arrive together, so SES counts everything sent in the first
# 1 + D seconds as one second (measured without a slow start: 23 copies in the
# first second at 20/s, docs/postfix.md). The ramp sends rate x h x RAMP x
# (1 + RAMP_FLOOR) / 2 = h x rate in its first 1.25 s and costs
# RAMP x (1 - RAMP_FLOOR) / 2 = 0.25 s of sending per pause, about D: no more
# than the bunching itself takes.
RAMP = 1.25
RAMP_FLOOR = 0.6
IDLE_AFTER = 2.0


class Pacer:
    """Evenly spaced sends with a sliding one-second cap. Not thread-safe: one event loop."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        headroom: float = HEADROOM,
        ramp: float = RAMP,
    ) -> None:
        self._clock = clock
        self._headroom = headroom
        self._ramp = ramp
        self._rate = rate
        # The cap's window: `rate` recipients per 1/headroom seconds, not per
        # second. See the module docstring.
        self._span = 1.0 / headroom if headroom > 0 else 1.0
        self._next = 0.0
        self._ramp_from = float("-inf")
        self._window: collections.deque[tuple[float, int]] = collections.deque()
        self._in_window = 0

    @property
    def rate(self) -> float:
        return self._rate

    def set_rate(self, rate: float) -> None:
        self._rate = rate

    def delay(self, n: int) -> float:
        """Reserve the next evenly spaced slot for n recipients; seconds until it comes."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        if now - self._next > IDLE_AFTER:
            self._ramp_from = now
        start = self._free_at(max(now, self._next), n)
        self._next = start + n / (self._rate * self._headroom * self._ramp_factor(start))
        return start - now

    def _ramp_factor(self, t: float) -> float:
        if self._ramp <= 0:
            return 1.0
        return max(RAMP_FLOOR, min(1.0, (t - self._ramp_from) / self._ramp))

    def record(self, n: int) -> float:
        """Note that n recipients go now. If that would put more than the rate into
        the last second (the loop woke late, say), note nothing and return how long
        to wait instead."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        while self._window and self._window[0][0] <= now - self._span:
            self._in_window -= self._window.popleft()[1]
        free = self._free_at(now, n)
        if free > now:
            return free - now
        self._window.append((now, n))
        self._in_window += n
        return 0.0

    def _free_at(self, t: float, n: int) -> float:
        """The earliest time from t at which the window before it holds room for n more."""
        budget = max(n, math.floor(self._rate))
        count = self._in_window
        for sent_at, k in self._window:  # oldest first
            if count + n <= budget and sent_at > t - self._span:
                break
            if sent_at > t - self._span:
                t = sent_at + self._span  # wait for this one to age out
            count -= k
        return t

    async def acquire(self, n: int = 1) -> None:
        """Wait for n recipients' turn; the cap counts the moments sends really happen."""
        wait = self.delay(n)
        while True:
            if wait > 0:
                await asyncio.sleep(wait)
            wait = self.record(n)
            if wait <= 0:
                return
