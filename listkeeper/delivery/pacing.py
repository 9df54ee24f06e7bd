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

Several workers share one SES account. Each worker paces at its share of
SES_MAX_SEND_RATE among the live workers (those with a recent
WorkerHeartbeat), recounted at every heartbeat; see `share_of_rate`. With
more than one, the shares add up to OVERSHARE times the rate and the relay
gate (`RelayGate`, in the hand-off policy, which every copy passes when
paced) caps what reaches SES at the rate. A rate of 0 means unpaced.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable

# Several workers each pace at this much more than an equal share. A worker
# slowed by a busy machine would otherwise leave its unused part of the rate
# unused (two workers reached 92% of the rate at the test suite's load); the
# others now fill it, and the relay gate keeps SES's every second within the
# rate, holding the copies that would go over in their smtpds (each worker
# has at most WORKER_CONNECTIONS copies waiting there).
OVERSHARE = 1.25


def share_of_rate(account_rate: float, live_workers: int) -> float:
    """This worker's pace: its share of the account's rate; 0 stays 0 (unpaced)."""
    if account_rate <= 0:
        return 0.0
    live = max(1, live_workers)
    if live == 1:
        return account_rate
    return min(account_rate, account_rate * OVERSHARE / live)


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


# The relay gate (below). Its window is a little over one second: SES's
# second, on SES's clock, must never hold more than the rate.
GATE_MARGIN = 0.01
# A copy let through whose result never comes back (its smtpd session broke
# before the 250; Postfix marked SES dead and deferred it without trying)
# stops counting after this long. Postfix moves a copy to SES in well under a
# second; a copy still on its way after this is late enough to count anew.
UNCONFIRMED_FOR = 10.0
# A copy SES throttled anyway comes back from Postfix's deferred queue within
# this long (main.cf: minimal_backoff_time 5 s, queue_run_delay 1 s, and
# slack); its place is kept for it, so that the retry does not draw the next
# 454 (the retry cycle in docs/postfix.md).
RETRY_WITHIN = 8.0


class RelayGate:
    """The hard cap where SES counts: no second at SES holds more than the rate.

    The Pacer above spaces the hand-offs; Postfix then moves each copy to SES
    a few milliseconds later, sometimes a few hundred, and a late copy next to
    an early one is a 454. The gate sits at the hand-off policy, where every
    personalised copy waits for its answer before Postfix queues it, and is
    told by Postfix's delivery status filter on the SES transport when SES
    has answered each copy. So for every copy it knows a moment before SES
    counted it (the policy's answer) and, once the result is back, a moment
    after (the status). A copy is let through only while the copies whose
    result is still out, plus those whose result came back within the last
    second, leave room for it: whatever Postfix delays, every copy SES can
    count in the same second as this one is among those counted here.

    The cost: a copy's place is free again one second after SES's answer, not
    after the hand-off, so the stream runs at rate / (1 + the relay's delay);
    the Pacer's headroom (3%) is the same size, so at a few tens of
    milliseconds the gate rarely holds a copy at all.

    One gate for the whole account: it runs in the one hand-off policy service
    every worker's copies pass (lmtpd), so it holds for any number of workers.
    Not thread-safe: one event loop.
    """

    def __init__(self, rate: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rate = rate
        self._out: collections.deque[float] = collections.deque()  # let through, no result yet
        self._answered: collections.deque[float] = collections.deque()  # results, last window
        self._retries: collections.deque[float] = collections.deque()  # places kept, until
        self._waiting: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self.held = 0  # copies that had to wait, for logs and tests
        # Let through to answered, the latest ones: the gate's cost (docstring).
        self.delays: collections.deque[float] = collections.deque(maxlen=2000)

    def set_rate(self, rate: float) -> None:
        self._rate = rate
        self._wake()

    @property
    def budget(self) -> int:
        return max(1, math.floor(self._rate))

    @property
    def window(self) -> float:
        return max(1.0, self.budget / self._rate) + GATE_MARGIN if self._rate > 0 else 1.0

    def in_use(self) -> int:
        """Places taken now: copies out, copies answered within the window, retries due."""
        now = self._clock()
        # The same sums as next_change(), so that a place is free at the moment it says.
        while self._answered and self._answered[0] + self.window <= now:
            self._answered.popleft()
        while self._out and self._out[0] + UNCONFIRMED_FOR <= now:
            self._out.popleft()
        while self._retries and self._retries[0] <= now:
            self._retries.popleft()
        return len(self._out) + len(self._answered) + len(self._retries)

    def try_admit(self, n: int = 1) -> bool:
        """Let n recipients through now if there is room (and nobody waits ahead)."""
        if self._rate <= 0:
            return True
        if self._waiting:
            return False
        return self._take(n)

    def _take(self, n: int) -> bool:
        used = self.in_use()
        # A transaction larger than the budget goes alone.
        if used + n > self.budget and used > 0:
            return False
        now = self._clock()
        self._out.extend([now] * n)
        return True

    async def admit(self, n: int = 1) -> None:
        """Wait for room for n recipients, in turn."""
        if self.try_admit(n):
            return
        self.held += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((n, future))
        self._wake()
        await future

    def withdraw(self, n: int = 1) -> None:
        """n recipients let through will not be queued after all (refused, discarded)."""
        for _ in range(min(n, len(self._out))):
            self._out.pop()
        self._wake()

    def answered(self, throttled: bool = False) -> None:
        """SES has answered one recipient (Postfix's delivery status filter)."""
        if self._rate <= 0:
            return
        now = self._clock()
        if self._out:
            self.delays.append(now - self._out.popleft())
        self._answered.append(now)
        if throttled:
            self._retries.append(now + RETRY_WITHIN)
        self._wake()

    def delay_quantiles(self) -> tuple[float, float, float]:
        """p50, p90 and p99 of the relay's delay (let through to answered), in seconds."""
        ordered = sorted(self.delays) or [0.0]

        def at(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

        return at(0.5), at(0.9), at(0.99)

    def next_change(self) -> float | None:
        """When the oldest place frees itself, if nothing else happens."""
        times = []
        if self._answered:
            times.append(self._answered[0] + self.window)
        if self._out:
            times.append(self._out[0] + UNCONFIRMED_FOR)
        if self._retries:
            times.append(self._retries[0])
        return min(times) if times else None

    def _wake(self) -> None:
        while self._waiting:
            n, future = self._waiting[0]
            if future.done():  # the smtpd went away
                self._waiting.popleft()
                continue
            if self._rate > 0 and not self._take(n):
                break
            self._waiting.popleft()
            future.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._waiting:
            at = self.next_change()
            if at is not None:
                delay = max(0.0, at - self._clock()) + 0.0005
                self._timer = asyncio.get_running_loop().call_later(delay, self._wake)
