"""Two worker hosts (each its own LISTKEEPER_DATA_DIR) share one PostgreSQL and one Postfix."""

from __future__ import annotations

import signal
import subprocess
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection

from listkeeper.delivery.models import (
    Delivery,
    JobState,
    Recipient,
    RecipientState,
    WorkerHeartbeat,
)
from tests.support import proc
from tests.support.mailpath import lmtpd, mailpath  # noqa: F401 (fixtures)
from tests.support.worker import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="worker hosts share one PostgreSQL; an SQLite file belongs to one host",
    ),
]


def test_two_worker_hosts_hand_each_copy_over_exactly_once(mailpath, tmp_path) -> None:
    members = 1000
    ml = mailpath.make_list(members=members, posting_policy="open")
    host, port = settings.REINJECT_HOST
    workers: list[subprocess.Popen[bytes]] = []
    for name in ("host-a", "host-b"):
        data_dir = tmp_path / name
        data_dir.mkdir()
        workers.append(
            proc.start(
                "worker",
                "--name",
                name,
                log=tmp_path / f"{name}.log",
                LISTKEEPER_DATA_DIR=str(data_dir),
                REINJECT_HOST=f"{host}:{port}",
                SES_MAX_SEND_RATE="0",  # unpaced: as much contention for rows as possible
            )
        )
    try:
        wait_for(
            lambda: WorkerHeartbeat.objects.filter(name__in=["host-a", "host-b"]).count() == 2,
            timeout=60,
            what="both workers to start",
        )
        mailpath.post(ml.address, subject="Two hosts")
        mailpath.wait_delivered(ml, timeout=300)
        got = mailpath.ses.wait_for(members, timeout=300)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(30)

    received = Counter(r for m in got for r in m.rcpt_tos)
    assert len(received) == members
    assert sum(received.values()) == members, "a copy went twice"
    delivery = Delivery.objects.get(post__mailing_list=ml)
    assert delivery.state == JobState.DONE
    assert (delivery.handed_off, delivery.failed) == (members, 0)
    by_worker = Counter(
        Recipient.objects.filter(delivery=delivery, state=RecipientState.SENT).values_list(
            "claimed_by", flat=True
        )
    )
    assert set(by_worker) == {"host-a", "host-b"}, by_worker
    assert sum(by_worker.values()) == members
