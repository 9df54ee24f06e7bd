"""Crashes and outages on the mail path lose nothing."""

from __future__ import annotations

import signal
from collections import Counter

import pytest
from django.conf import settings

from listkeeper.delivery.models import Delivery, JobState, Recipient, RecipientState
from listkeeper.mail.models import Post, PostStatus
from tests.support import proc
from tests.support.lmtp import database_down
from tests.support.worker import wait_for

pytestmark = pytest.mark.e2e


def test_it_resumes_a_fan_out_after_the_worker_is_killed_and_misses_no_one(
    mailpath, tmp_path
) -> None:
    members = 60
    everyone = {f"community.m{i}@example.net" for i in range(members)}
    ml = mailpath.make_list(members=members, posting_policy="open")
    host, port = settings.REINJECT_HOST
    env = {
        "REINJECT_HOST": f"{host}:{port}",
        "SES_MAX_SEND_RATE": "20",
        "WORKER_STALE_AFTER": "2",
        "WORKER_CONNECTIONS": "2",
    }
    first = proc.start("worker", log=tmp_path / "first.log", **env)
    try:
        mailpath.post(ml.address, subject="Survives a crash")
        wait_for(lambda: len(mailpath.ses.messages) >= 10, what="the fan-out to be under way")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    delivery = Delivery.objects.get(post__mailing_list=ml)
    assert delivery.state != JobState.DONE, (
        "the worker finished before it was killed; nothing was shown"
    )
    assert Recipient.objects.filter(delivery=delivery, state=RecipientState.CLAIMED).exists()

    second = proc.start("worker", log=tmp_path / "second.log", **env)
    try:
        mailpath.wait_delivered(ml, timeout=60)
        # Wait on who arrived, not on how many: the repeats count towards the number.
        wait_for(
            lambda: everyone <= {r for m in mailpath.ses.messages for r in m.rcpt_tos},
            timeout=60,
            what="a copy for every member at SES",
        )
        got = list(mailpath.ses.messages)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    received = Counter(r for m in got for r in m.rcpt_tos)
    assert set(received) == everyone
    repeats = sum(n - 1 for n in received.values())
    # Only transactions in flight when it died (sent, result not yet recorded) go twice.
    assert repeats <= 2 * 2, (repeats, (tmp_path / "second.log").read_text())


def test_it_says_try_later_while_the_database_is_down_and_the_post_arrives_after(mailpath) -> None:
    ml = mailpath.make_list(members=4, posting_policy="open")
    mailpath.start_worker()

    with database_down():
        mailpath.post(ml.address, subject="Through an outage")
        # Postfix took the post; our LMTP server answered 451, so Postfix keeps it.
        wait_for(
            lambda: any(
                "451 4.3.0" in line
                for line in mailpath.postfix.log_file.read_text().splitlines()
                if "Through" in line or "status=deferred" in line
            ),
            what="Postfix to be told to try later",
        )
    assert not Post.objects.filter(mailing_list=ml).exists()
    assert [q for q in mailpath.queued()], "the post is waiting in Postfix's queue"

    mailpath.flush()

    got = mailpath.ses.wait_for(4, timeout=60)
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(
        f"community.m{i}@example.net" for i in range(4)
    )
    assert Post.objects.get(mailing_list=ml).status == PostStatus.ACCEPTED


def test_it_paces_the_hand_off_so_ses_never_throttles(mailpath) -> None:
    ml = mailpath.make_list(members=30, posting_policy="open")
    # The stand-in counts every sliding second strictly. Postfix's queue moves
    # each copy by a few tens of milliseconds, so pace with a little headroom
    # (an unpaced worker would send all 30 within a fraction of a second).
    mailpath.ses.max_rate = 12
    mailpath.start_worker(rate=10)

    mailpath.post(ml.address, subject="Paced")

    got = mailpath.ses.wait_for(30, timeout=60)
    assert len(got) == 30
    assert not [r for r in mailpath.ses.replies if r.startswith("454")]
