"""Pacing holds where SES counts: at the relay, after Postfix, not only at the hand-off.

The SES stand-in throttles like SES (454 over the rate in any sliding second)
and notes when each copy arrived. The workers run as separate processes, as
in production, so that their work does not delay the stand-in's clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from listkeeper.delivery import handoff
from listkeeper.delivery.models import Delivery, JobState, WorkerHeartbeat
from listkeeper.delivery.worker import RECOUNT_EVERY
from tests.sesstub import Received
from tests.support import proc
from tests.support.mailpath import MailPath
from tests.support.worker import wait_for

RATE = 20
# Zero 454s holds whatever the load: the hand-off policy's relay gate counts
# every copy between its answer and SES's (docs/postfix.md, "The relay gate").
# The rate it reaches is rate / (1 + Postfix's delay), and a busy machine
# delays Postfix, the stand-in and the workers: measured at a load of 20 on
# two cores, p95 290 ms; and at the load of the test suite itself (1.5-3 on
# two cores) two workers reached 92% in one of two CI runs, with seconds of
# 15 and 10 copies where the machine stalled. So 95% of the rate is asserted
# only on a machine that is nearly idle; the zero 454s always.
MAX_LOAD_PER_CORE = 0.5
pytestmark = pytest.mark.e2e


def _quiet() -> bool:
    return os.getloadavg()[0] / (os.cpu_count() or 1) <= MAX_LOAD_PER_CORE


def _worker(tmp_path: Path, name: str, **env: str) -> subprocess.Popen[bytes]:
    return proc.worker(tmp_path, name, RATE, **env)


def _pace_the_account(settings) -> None:
    """The hand-off policy's relay gate at the account's rate, as in production."""
    settings.SES_MAX_SEND_RATE = RATE
    time.sleep(handoff.RATE_EVERY + 0.5)


def _stop(*workers: subprocess.Popen[bytes]) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(30)
        except subprocess.TimeoutExpired:
            w.kill()


def _fan_out(mailpath: MailPath, settings, tmp_path: Path, members: int, workers: int) -> None:
    ml = mailpath.make_list(members=members, posting_policy="open")
    mailpath.ses.max_rate = RATE
    _pace_the_account(settings)
    names = [f"w{i}" for i in range(workers)]
    started = [_worker(tmp_path, name) for name in names]
    try:
        wait_for(
            lambda: WorkerHeartbeat.objects.filter(name__in=names).count() == workers,
            timeout=60,
            what="every worker to start",
        )
        # Each has counted the others and waited for them to make room.
        time.sleep(2 * RECOUNT_EVERY)
        mailpath.post(ml.address, subject="Paced at the edge")
        got = mailpath.ses.wait_for(members, timeout=members / RATE * 3 + 30)
    finally:
        _stop(*started)
    logs = "\n".join((tmp_path / f"w{i}.log").read_text()[-2000:] for i in range(workers))

    received = Counter(r for m in got for r in m.rcpt_tos)
    assert len(received) == members, logs
    assert max(received.values()) == 1, "a copy went twice"
    assert mailpath.ses.throttled == 0, (
        f"{mailpath.ses.throttled} copies drew 454; busiest second at SES "
        f"{mailpath.ses.busiest_window()} (rate {RATE}); per second: {mailpath.ses.per_second()}"
    )
    assert mailpath.ses.busiest_window() <= RATE
    print(
        f"{workers} worker(s): {mailpath.ses.arrival_rate():.2f}/s of {RATE}, "
        f"load {os.getloadavg()[0]:.1f}; per second: {mailpath.ses.per_second()}"
    )
    if _quiet():
        assert mailpath.ses.arrival_rate() >= 0.95 * RATE, (
            f"{mailpath.ses.arrival_rate():.2f}/s; per second: {mailpath.ses.per_second()}"
        )


def test_it_sends_500_copies_at_the_rate_without_a_single_454(mailpath, settings, tmp_path) -> None:
    _fan_out(mailpath, settings, tmp_path, members=500, workers=1)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="several workers share one PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED); "
    "SQLite is the one-process setup of `listkeeper serve`",
)
def test_two_workers_share_the_rate_without_a_single_454(mailpath, settings, tmp_path) -> None:
    _fan_out(mailpath, settings, tmp_path, members=500, workers=2)


def test_a_worker_taking_over_after_a_sigkill_keeps_to_the_rate(
    mailpath, settings, tmp_path
) -> None:
    members = 200
    ml = mailpath.make_list(members=members, posting_policy="open")
    mailpath.ses.max_rate = RATE
    _pace_the_account(settings)
    first = _worker(tmp_path, "first", WORKER_STALE_AFTER="2")
    try:
        mailpath.post(ml.address, subject="Survives a crash at the rate")
        wait_for(lambda: len(mailpath.ses.messages) >= 40, what="the fan-out to be under way")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    assert Delivery.objects.get(post__mailing_list=ml).state != JobState.DONE

    second = _worker(tmp_path, "second", WORKER_STALE_AFTER="2")
    try:
        # 200 at 20/s is 10 s; the takeover adds the 2 s lease and a slow start.
        mailpath.ses.wait_for(members, timeout=60)
        # Anything that would still come (a repeat) comes within a few seconds.
        time.sleep(3)
    finally:
        _stop(second)

    received = Counter(r for m in mailpath.ses.messages for r in m.rcpt_tos)
    assert len(received) == members
    # At least once, and the only copies that may go twice are those a
    # connection had in flight at the SIGKILL: paced, a connection sends its
    # next copy only once the last one's result is committed (docs/postfix.md,
    # "The at-least-once boundary").
    repeats = sum(n - 1 for n in received.values())
    assert repeats <= settings.WORKER_CONNECTIONS, received.most_common(5)
    assert mailpath.ses.throttled == 0, (
        f"{mailpath.ses.throttled} copies drew 454; per second: {mailpath.ses.per_second()}"
    )
    assert mailpath.ses.busiest_window() <= RATE


def test_a_copy_ses_throttles_is_retried_within_seconds(mailpath) -> None:
    """Postfix's default backoff would keep the throttled copies for five minutes or more."""
    ml = mailpath.make_list(members=6, posting_policy="open")
    mailpath.ses.max_rate, mailpath.ses.rate_window = 2, 1.0
    mailpath.start_worker()  # unpaced: six copies at once, four of them drawing 454

    mailpath.post(ml.address, subject="Throttled then retried")
    wait_for(lambda: mailpath.ses.throttled > 0, timeout=120, what="SES to throttle")
    throttled_at = time.monotonic()

    # Only this post's copies: a late copy of an earlier test may still arrive.
    def this_post() -> list[Received]:
        return [m for m in mailpath.ses.messages if b"Throttled then retried" in m.data]

    wait_for(lambda: len(this_post()) >= 6, timeout=120, what="six copies of the post")
    got = this_post()

    assert sorted(r for m in got for r in m.rcpt_tos) == [
        f"community.m{i}@example.net" for i in range(6)
    ]
    # Postfix's defaults: not before 300 s (minimal_backoff_time, queue_run_delay).
    assert time.monotonic() - throttled_at < 90
