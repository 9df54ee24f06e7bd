"""Faults during a 2,000-member fan-out, through the real compose stack.

Each test posts its own message to 2,000 members, breaks one part while the
copies are going out, lets it recover, and then counts at the SES stand-in:
every member has the post exactly once (by Message-ID and recipient), nothing
is left in the delivery ledger or in Postfix's queue. One stack serves the
module: after each fault it is healthy again, which the next test checks first.

These take minutes: they run when LISTKEEPER_COMPOSE_FAULTS=1 (README).
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator

import pytest

from tests.compose.engine import Engine
from tests.compose.stack import Stack, members_file, wait_until
from tests.sesstub import busiest_window
from tests.support.compose import start_stack

pytestmark = [
    pytest.mark.compose,
    pytest.mark.skipif(
        os.environ.get("LISTKEEPER_COMPOSE_FAULTS") != "1",
        reason="the fault tests take minutes; set LISTKEEPER_COMPOSE_FAULTS=1",
    ),
]

MEMBERS = 2000
SENDER = "alice@example.org"
RATE = 60  # SES_MAX_SEND_RATE for this stack, and the stand-in's own limit
TOOK_BACK = re.compile(r"took back (\d+) recipients an earlier run of")


@pytest.fixture(scope="module")
def stack(
    docker_engine: Engine, images: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    settings = {
        "SES_MAX_SEND_RATE": str(RATE),
        # A killed worker's claims go to the next worker after this long.
        "WORKER_STALE_AFTER": "15",
    }
    stack = start_stack(docker_engine, tmp_path_factory.mktemp("faults"), settings)
    try:
        stack.write_ses_config(max_rate=RATE, rate_window=1)
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
def members(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    path = tmp_path_factory.mktemp("aliases") / "virtual_aliases.cf"
    members = members_file(path, MEMBERS, SENDER)
    imported = stack.import_aliases(path)
    assert imported.returncode == 0, imported.stderr
    stack.accept_unauthenticated()
    return [m.lower() for m in members]


def start_fan_out(stack: Stack, subject: str, before_fault: int = 300) -> None:
    """Post, and return once the fan-out is well under way."""
    stack.wait_healthy()
    stack.post(SENDER, subject)
    wait_until(
        f"{before_fault} copies of {subject!r}",
        lambda: len(stack.copies(subject)) >= before_fault,
        within=300,
        detail=lambda: stack.logs("postfix", "worker", "lmtpd", tail=40),
    )


def finish(stack: Stack, members: list[str], subject: str, may_repeat: int = 0) -> None:
    """Every member's copy arrived once; the ledger and Postfix's queue are empty.

    `may_repeat`: how many copies may have arrived twice (those a SIGKILLed
    worker had handed to Postfix but not yet recorded; nothing else may).
    """
    wanted = set(members)
    wait_until(
        f"all {len(wanted)} copies of {subject!r}",
        lambda: wanted <= {rcpt for _, rcpt in stack.copies(subject)},
        within=600,
        every=2,
        detail=lambda: (
            f"{len(stack.copies(subject))} arrived\n" + stack.logs("postfix", "worker", tail=60)
        ),
    )
    wait_until("an empty ledger", lambda: stack.ledger_backlog() == (0, 0), within=120, every=2)
    wait_until("an empty Postfix queue", lambda: stack.postfix_queue() == [], within=300, every=2)
    copies = stack.copies(subject)
    twice = {key: n for key, n in copies.items() if n > 1}
    assert len(twice) <= may_repeat and set(twice.values()) <= {2}, (
        f"{len(twice)} copies arrived more than once (at most {may_repeat} may),"
        f" e.g. {list(twice)[:5]}"
    )
    assert {rcpt for _, rcpt in copies} == wanted
    assert len(copies) == len(wanted)  # one Message-ID per member's copy
    stack.wait_healthy()


def web_health(stack: Stack) -> int:
    status, _ = stack.http("/healthz")
    return status


def test_postfix_restarted_during_a_fan_out(stack: Stack, members: list[str]) -> None:
    subject = "fault: postfix restarted"
    start_fan_out(stack, subject)

    stack.compose("restart", "-t", "10", "postfix")

    finish(stack, members, subject)


def test_worker_killed_during_a_fan_out(stack: Stack, members: list[str]) -> None:
    subject = "fault: worker killed"
    start_fan_out(stack, subject)
    (worker,) = stack.inspect(stack.container("worker"))

    # kill -9 of the worker's process (PID 1 in its container), as the kernel's
    # OOM killer would: Docker's restart policy brings it back.
    os.kill(worker["State"]["Pid"], signal.SIGKILL)

    wait_until(
        "the worker restarted",
        lambda: (
            stack.inspect(stack.container("worker"))[0]["RestartCount"] > worker["RestartCount"]
        ),
        within=60,
    )
    # The restarted worker has its predecessor's name (the container's
    # hostname) and takes back what it left claimed, at once: not after
    # WORKER_STALE_AFTER, and not never (its own heartbeat would keep them).
    took_back = wait_until(
        "the restarted worker taking back its predecessor's claims",
        lambda: [int(n) for n in TOOK_BACK.findall(stack.logs("worker"))],
        within=120,
    )
    assert len(took_back) == 1 and took_back[0] > 0, took_back
    # What the killed worker had handed to Postfix but not yet recorded goes
    # again (at-least-once: no transaction spans Postfix's queue and the
    # ledger); that is a few copies of those it held, never more.
    finish(stack, members, subject, may_repeat=min(took_back[0], len(members) // 100))


def test_database_restarted_during_a_fan_out(stack: Stack, members: list[str]) -> None:
    subject = "fault: database restarted"
    start_fan_out(stack, subject)

    stack.compose("stop", "-t", "10", "db")
    # While the database is down the healthchecks say so: the web's and the worker's.
    wait_until("/healthz failing", lambda: web_health(stack) == 503, within=60)
    wait_until("web unhealthy", lambda: stack.health("web") == ["unhealthy"], within=120)
    wait_until("worker unhealthy", lambda: stack.health("worker") == ["unhealthy"], within=120)
    stack.compose("start", "db")

    wait_until("/healthz passing", lambda: web_health(stack) == 200, within=180, every=2)
    finish(stack, members, subject)


def test_three_workers_share_a_fan_out_within_the_send_rate(
    stack: Stack, members: list[str]
) -> None:
    subject = "scale: three workers"
    stack.compose("up", "-d", "--no-build", "--scale", "worker=3", "worker")
    stack.wait_healthy()
    assert len(stack.containers("worker")) == 3

    start_fan_out(stack, subject, before_fault=1)
    finish(stack, members, subject)

    claimed = json.loads(
        stack.shell(
            "import json; from django.db.models import Count;"
            " from listkeeper.delivery.models import Recipient;"
            f" rows = Recipient.objects.filter(delivery__post__subject__contains={subject!r});"
            " print(json.dumps(dict(rows.values_list('claimed_by').annotate(n=Count('id')))))"
        ).splitlines()[-1]
    )
    assert len(claimed) == 3, claimed  # each of the three took part
    assert sum(claimed.values()) == len(members)
    arrivals = [m["at"] for m in stack.received() if subject in m["subject"] for _ in m["rcpt_tos"]]
    elapsed = max(arrivals) - min(arrivals)
    assert (len(arrivals) - 1) / elapsed <= RATE
    # The stand-in refuses (454) whatever would exceed RATE in a second; the
    # workers' pacing keeps that rare, and Postfix retries each one.
    throttled = [
        r for r in stack.replies() if "Throttling" in r["reply"] and r["at"] >= min(arrivals)
    ]
    assert len(throttled) <= len(members) // 100, len(throttled)
    assert busiest_window(arrivals, 1.0) <= RATE
