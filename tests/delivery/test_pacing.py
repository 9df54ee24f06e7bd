from __future__ import annotations

import pytest

from listkeeper.delivery.pacing import Pacer, max_batch, share_of_rate


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _send_times(pacer: Pacer, clock: FakeClock, sizes: list[int]) -> list[tuple[float, int]]:
    sent = []
    for n in sizes:
        clock.now += pacer.delay(n)
        assert pacer.record(n) == 0
        sent.append((clock.now, n))
    return sent


def _worst_window(sent: list[tuple[float, int]]) -> int:
    return max(sum(n for t, n in sent if start <= t < start + 1.0) for start, _ in sent)


def test_it_spaces_single_recipients_evenly_at_the_rate() -> None:
    clock = FakeClock()
    sent = _send_times(Pacer(14, clock, headroom=1.0, ramp=0), clock, [1] * 140)

    gaps = {round(b[0] - a[0], 6) for a, b in zip(sent, sent[1:], strict=False)}
    assert gaps == {round(1 / 14, 6)}
    assert _worst_window(sent) == 14


def test_it_leaves_room_for_a_little_delay_downstream() -> None:
    clock = FakeClock()
    sent = _send_times(Pacer(50, clock, ramp=0), clock, [1] * 500)
    # Some copies arrive 9 ms late: the worst case is a late one followed, a second
    # later, by one on time.
    jittered = [(t + (0.009 if i % 50 == 0 else 0.0), n) for i, (t, n) in enumerate(sent)]

    assert _worst_window(jittered) <= 50
    rate = (len(sent) - 1) / (sent[-1][0] - sent[0][0])
    assert 49 <= rate <= 50


@pytest.mark.parametrize("size", [3, 10, 13])
def test_it_never_lets_a_one_second_window_exceed_the_rate_with_larger_transactions(
    size: int,
) -> None:
    clock = FakeClock()
    sent = _send_times(Pacer(14, clock, ramp=0), clock, [size] * 60)

    assert _worst_window(sent) <= 14
    total_time = sent[-1][0] - sent[0][0]
    assert sum(n for _, n in sent[:-1]) / total_time >= 14 * 0.7


def test_it_does_not_burst_after_being_idle() -> None:
    clock = FakeClock()
    pacer = Pacer(50, clock, ramp=0)
    _send_times(pacer, clock, [1] * 10)
    clock.now += 30
    sent = _send_times(pacer, clock, [1] * 100)

    assert _worst_window(sent) <= 50


def test_it_does_not_wait_when_unpaced() -> None:
    clock = FakeClock()
    pacer = Pacer(0, clock)

    assert [pacer.delay(50) for _ in range(100)] == [0.0] * 100


def test_it_divides_the_account_rate_among_live_workers_a_quarter_over_for_the_gate_to_cap() -> (
    None
):
    assert share_of_rate(14, 1) == 14
    assert share_of_rate(14, 0) == 14
    assert share_of_rate(16, 2) == 10  # 20 in all: the relay gate lets 16 through
    assert share_of_rate(20, 5) == 5
    assert share_of_rate(0, 3) == 0


def test_it_keeps_transactions_within_one_seconds_budget() -> None:
    assert max_batch(14) == 14
    assert max_batch(0) == 50
    assert max_batch(500) == 50
    assert max_batch(0.5) == 1


def test_it_holds_back_the_next_send_when_an_earlier_one_went_late() -> None:
    clock = FakeClock()
    pacer = Pacer(10, clock, headroom=1.0)
    sent = []
    for i in range(30):
        clock.now += pacer.delay(1)
        if i == 5:
            clock.now += 0.05  # the event loop woke 50 ms late for this one
        while (wait := pacer.record(1)) > 0:
            clock.now += wait
        sent.append((clock.now, 1))

    assert _worst_window(sent) <= 10


def test_it_starts_slowly_after_a_pause_so_postfix_can_open_its_connections() -> None:
    clock = FakeClock()
    pacer = Pacer(20, clock, headroom=1.0)
    first = _send_times(pacer, clock, [1] * 100)
    clock.now += 30  # idle: Postfix has closed its cached connections to SES
    again = _send_times(pacer, clock, [1] * 100)

    for sent in (first, again):
        start = sent[0][0]
        in_first_second = sum(1 for t, _ in sent if t < start + 1.0)
        # The first copies wait for Postfix's TLS handshakes with SES and arrive
        # together, so SES counts about 1.25 s of sending as its first second.
        in_first_handshake_second = sum(1 for t, _ in sent if t < start + 1.25 - 1e-9)
        steady = sum(1 for t, _ in sent if start + 3.0 <= t < start + 4.0)
        assert in_first_second <= 16
        assert in_first_handshake_second <= 20
        assert steady == 20


def test_it_keeps_the_margin_for_postfix_when_the_loop_wakes_late() -> None:
    """Four connections hold their slots, the loop stalls past all four, then they go at once."""
    clock = FakeClock()
    pacer = Pacer(20, clock, headroom=0.97, ramp=0)
    sent = [t for t, _ in _send_times(pacer, clock, [1] * 30)]
    for _ in range(3):
        waits = [pacer.delay(1) for _ in range(4)]
        clock.now += max(waits) + 0.2  # a slow database call, a busy machine
        for _ in waits:
            while (wait := pacer.record(1)) > 0:
                clock.now += wait
            sent.append(clock.now)
        sent += [t for t, _ in _send_times(pacer, clock, [1] * 30)]

    # Any 21 consecutive copies span 1/0.97 s, so Postfix may hold one copy
    # 31 ms longer than the one 20 later before SES counts 21 in a second.
    shortest = min(b - a for a, b in zip(sent, sent[20:], strict=False))
    assert shortest >= 1 / 0.97 - 1e-9
