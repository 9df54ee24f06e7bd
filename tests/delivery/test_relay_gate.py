"""The relay gate: no second at SES holds more than the rate, whatever Postfix's timing.

The simulations hand copies to the gate as an evenly paced worker would,
let "Postfix" move each one to SES after a delay drawn from a seeded
distribution with rare long stalls, and report each result back to the gate
a moment after SES counted it, as Postfix's delivery status filter does.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import shutil
import subprocess

import pytest

from listkeeper.delivery import handoff
from listkeeper.delivery.pacing import RETRY_WITHIN, UNCONFIRMED_FOR, RelayGate
from tests.delivery.test_pacing import FakeClock

RATE = 20


def _delays(copies: int, seed: int) -> list[float]:
    """Postfix's hand-off-to-SES delay: mostly 5-20 ms, one copy in 30 stalls 50-400 ms."""
    rng = random.Random(seed)
    return [
        rng.uniform(0.05, 0.4) if rng.random() < 1 / 30 else rng.uniform(0.005, 0.02)
        for _ in range(copies)
    ]


def _busiest_second(arrivals: list[float]) -> int:
    times = sorted(arrivals)
    return max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))


def _through_gate(copies: int, delays: list[float], headroom: float = 0.97) -> list[float]:
    """When SES counts each copy, with the gate between the worker and Postfix."""
    clock = FakeClock()
    gate = RelayGate(RATE, clock)
    start = clock.now
    asked = [start + i / (RATE * headroom) for i in range(copies)]
    results: list[float] = []  # when each result reaches the gate (a heap)
    arrivals = []
    i = 0
    while i < copies:
        clock.now = max(clock.now, asked[i])
        while results and results[0] <= clock.now:
            due = heapq.heappop(results)
            now, clock.now = clock.now, due
            gate.answered()
            clock.now = now
        if gate.try_admit(1):
            at_ses = clock.now + delays[i]
            arrivals.append(at_ses)
            heapq.heappush(results, at_ses + 0.002)
            i += 1
            continue
        later = [t for t in (gate.next_change(), results[0] if results else None) if t]
        clock.now = max(clock.now, min(later))
    return arrivals


@pytest.mark.parametrize("seed", range(5))
def test_it_keeps_every_second_at_ses_within_the_rate_though_postfix_stalls(seed: int) -> None:
    copies = 600
    delays = _delays(copies, seed)
    ungated = [i / (RATE * 0.97) + d for i, d in enumerate(delays)]
    # The scenario is one that pacing alone does not survive.
    assert _busiest_second(ungated) > RATE

    arrivals = _through_gate(copies, delays)

    assert _busiest_second(arrivals) <= RATE
    rate = (copies - 1) / (max(arrivals) - min(arrivals))
    assert rate >= 0.95 * RATE, rate


def test_it_keeps_a_place_for_the_retry_of_a_throttled_copy() -> None:
    clock = FakeClock()
    gate = RelayGate(RATE, clock)
    for _ in range(RATE):
        assert gate.try_admit()
    gate.answered(throttled=True)  # Postfix will bring this one back
    for _ in range(RATE - 1):
        gate.answered()
    clock.now += 1.5  # every result is more than a second old

    assert gate.in_use() == 1
    assert [gate.try_admit() for _ in range(RATE)] == [True] * (RATE - 1) + [False]
    clock.now += RETRY_WITHIN
    assert gate.in_use() == RATE - 1  # the place kept is free again; the others are out


def test_a_copy_whose_result_never_comes_stops_counting() -> None:
    clock = FakeClock()
    gate = RelayGate(2, clock)
    assert gate.try_admit() and gate.try_admit()
    assert not gate.try_admit()
    clock.now += UNCONFIRMED_FOR
    assert gate.try_admit()


def test_a_transaction_larger_than_the_budget_goes_alone() -> None:
    clock = FakeClock()
    gate = RelayGate(5, clock)
    assert gate.try_admit(1)
    assert not gate.try_admit(8)
    gate.answered()
    clock.now += 1.1
    assert gate.try_admit(8)
    assert not gate.try_admit(1)


def test_it_lets_everything_through_when_unpaced() -> None:
    gate = RelayGate(0)
    assert all(gate.try_admit(50) for _ in range(100))


def test_waiting_copies_go_in_turn_as_places_free() -> None:
    async def scenario() -> list[str]:
        gate = RelayGate(2)
        order: list[str] = []

        async def copy(name: str) -> None:
            await gate.admit()
            order.append(name)

        await copy("a")
        await copy("b")
        waiting = [asyncio.create_task(copy(name)) for name in ("c", "d")]
        await asyncio.sleep(0.01)
        assert order == ["a", "b"]
        gate.withdraw()  # "b" was refused after all: its place goes to "c"
        await asyncio.sleep(0.01)
        assert order == ["a", "b", "c"]
        gate.set_rate(0)  # unpaced from now on
        await asyncio.gather(*waiting)
        return order

    assert asyncio.run(scenario()) == ["a", "b", "c", "d"]


@pytest.mark.skipif(shutil.which("postmap") is None, reason="needs Postfix's postmap")
def test_it_answers_postfix_socketmap_lookups_and_counts_each_result() -> None:
    """Postfix's own socketmap client (postmap -q) asks as the SES transport's filter does."""

    async def scenario() -> tuple[int, list[int], int]:
        service = handoff.PolicyService()
        service.gate.set_rate(RATE)
        server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        table = f"socketmap:inet:127.0.0.1:{port}:ses-status"
        codes = []
        for key in (
            "2.0.0 host ses[127.0.0.1] said: 250 Ok",
            "4.7.0 host ses[127.0.0.1] said: 454 Throttling failure: "
            "Maximum sending rate exceeded. (in reply to end of DATA command)",
        ):
            done = await asyncio.to_thread(
                subprocess.run, ["postmap", "-q", key, table], capture_output=True
            )
            codes.append(done.returncode)
        server.close()
        await server.wait_closed()
        return service.statuses, codes, service.gate.in_use()

    statuses, codes, in_use = asyncio.run(scenario())
    assert codes == [1, 1]  # not found: the status stays as it was
    assert statuses == 2
    assert in_use == 3  # two results within the second, and the place kept for the retry
