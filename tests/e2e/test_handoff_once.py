"""Each personalised copy reaches SES exactly once, even when the worker is SIGKILLed.

Postfix's reinjection smtpd asks the hand-off policy service at the end of
each copy's data, and the copy is marked handed before Postfix says 250
(listkeeper/delivery/handoff.py; docs/postfix.md, "The at-least-once
boundary"). A worker killed with copies in flight leaves them marked, and its
successor does not send them again.
"""

from __future__ import annotations

import signal
import smtplib
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from listkeeper.delivery import claims
from listkeeper.delivery.models import Delivery, JobState, Recipient, RecipientState
from listkeeper.delivery.personalise import verp_sender
from listkeeper.lib import tokens
from tests.support import proc
from tests.support.mailpath import MailPath
from tests.support.worker import wait_for

pytestmark = pytest.mark.e2e


def _worker(tmp_path: Path, name: str, rate: float) -> subprocess.Popen[bytes]:
    return proc.worker(tmp_path, name, rate, WORKER_STALE_AFTER="2", WORKER_CONNECTIONS="4")


def _recorded(delivery: Delivery) -> int:
    return Recipient.objects.filter(delivery=delivery, state=RecipientState.SENT).count()


@pytest.mark.parametrize(
    ("members", "rate", "same_name"),
    [
        # Unpaced (a local relay): results are written every 50 ms, so many
        # copies are in flight or unrecorded at any moment. Each successor runs
        # under the same name: it takes back its predecessor's claims at start.
        (600, 0.0, True),
        # Paced: each connection sends its next copy once the last one's result
        # is committed, so only a copy in that window can be unrecorded. Each
        # successor has a new name and takes the claims back once the killed
        # one's heartbeat is stale.
        (600, 200.0, False),
    ],
    ids=["unpaced", "paced"],
)
def test_workers_killed_mid_fan_out_and_their_successor_send_every_copy_exactly_once(
    mailpath: MailPath, tmp_path: Path, members: int, rate: float, same_name: bool
) -> None:
    everyone = {f"community.m{i}@example.net" for i in range(members)}
    ml = mailpath.make_list(members=members, posting_policy="open")
    kills = 3
    names = ["w"] * (kills + 1) if same_name else [f"w{i}" for i in range(kills + 1)]
    mailpath.post(ml.address, subject="Exactly once")
    wait_for(
        lambda: Delivery.objects.filter(post__mailing_list=ml).exists(),
        timeout=60,
        what="the post to be accepted",
    )
    delivery = Delivery.objects.get(post__mailing_list=ml)
    for i in range(kills):
        worker = _worker(tmp_path, names[i], rate)
        try:
            wait_for(
                lambda i=i: _recorded(delivery) >= (i + 1) * members // (kills + 1),
                timeout=60,
                what="the fan-out to be under way",
            )
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        finally:
            worker.kill()
    delivery.refresh_from_db()
    assert delivery.state != JobState.DONE, "the workers finished before the last was killed"
    left = Recipient.objects.filter(
        delivery=delivery, state__in=[RecipientState.PENDING, RecipientState.CLAIMED]
    ).count()
    assert left > 0, "nothing was left for the successor"

    last = _worker(tmp_path, names[-1], rate)
    try:
        mailpath.wait_delivered(ml, timeout=120)
        wait_for(
            lambda: everyone <= {r for m in mailpath.ses.messages for r in m.rcpt_tos},
            timeout=120,
            what="a copy for every member at SES",
        )
        # A repeat would come within moments of the rest; give it the chance.
        time.sleep(3)
        mailpath.flush()
        time.sleep(2)
    finally:
        last.send_signal(signal.SIGTERM)
        last.wait(30)

    received = Counter(r for m in mailpath.ses.messages for r in m.rcpt_tos)
    assert set(received) == everyone
    repeats = {r: n for r, n in received.items() if n > 1}
    assert not repeats, (
        f"{sum(n - 1 for n in repeats.values())} repeats: {list(repeats.items())[:5]}",
        (tmp_path / f"{names[-1]}.log").read_text()[-3000:],
    )
    assert Recipient.objects.filter(delivery=delivery, state=RecipientState.SENT).count() == members
    delivery.refresh_from_db()
    assert delivery.handed_off == members
    assert mailpath.queued() == []


def _claimed_row(mailpath: MailPath) -> Recipient:
    """One member's ledger row, claimed as a worker would before sending."""
    ml = mailpath.make_list(members=1, posting_policy="open")
    mailpath.post(ml.address, subject="One row")
    wait_for(
        lambda: Recipient.objects.filter(delivery__post__mailing_list=ml).exists(),
        timeout=60,
        what="the ledger row",
    )
    batch = claims.claim("by-hand", 10)
    assert batch is not None and len(batch.rows) == 1
    return Recipient.objects.get(id=batch.rows[0][0])


def _reinject(sender: str, recipient: str) -> None:
    with smtplib.SMTP(*settings.REINJECT_HOST, timeout=60) as smtp:
        smtp.sendmail(sender, [recipient], b"Subject: a copy\r\n\r\nHello.\r\n")


def test_a_copy_with_a_forged_token_is_not_marked_and_a_genuine_one_is(
    mailpath: MailPath,
) -> None:
    row = _claimed_row(mailpath)
    ml = row.delivery.post.mailing_list  # type: ignore[union-attr]
    genuine = tokens.verp_token(row.id)
    # Same row id, the MAC of another row: shaped like a token, not one of ours.
    forged = tokens.verp_token(row.id)[:13] + tokens.verp_token(row.id + 1)[13:]
    assert forged != genuine
    _reinject(f"{ml.local_part}-bounces+{forged}@{ml.domain}", row.email)
    row.refresh_from_db()
    assert row.sent_at is None, "a forged token marked the row"
    # Another recipient with the genuine token is not this copy either.
    _reinject(verp_sender(ml, row.id), "somebody.else@example.net")
    row.refresh_from_db()
    assert row.sent_at is None, "a copy for another recipient marked the row"

    _reinject(verp_sender(ml, row.id), row.email)
    row.refresh_from_db()
    assert row.sent_at is not None, "the genuine copy was not marked"
    assert row.state == RecipientState.CLAIMED
    # Its worker dies before recording the 250: the copy counts as handed.
    assert claims.release_predecessor("by-hand") == 0
    row.refresh_from_db()
    assert row.state == RecipientState.SENT


def test_a_repeat_of_a_copy_already_handed_is_discarded(mailpath: MailPath) -> None:
    row = _claimed_row(mailpath)
    ml = row.delivery.post.mailing_list  # type: ignore[union-attr]
    claims.record("by-hand", row.delivery_id, sent=[row.id])
    _reinject(verp_sender(ml, row.id), row.email)  # Postfix says 250 and drops it
    time.sleep(2)
    mailpath.flush()
    time.sleep(1)
    assert mailpath.copies_to(row.email) == []


def test_a_killed_workers_late_copy_and_its_successors_copy_of_one_row_go_once(
    mailpath: MailPath,
) -> None:
    """The killed worker's end of data reaches the policy after the row was claimed again.

    The row was not marked yet when its worker died, so the successor took
    it back and claimed it again; then the dead worker's copy (its data sent,
    Postfix still finishing it) is asked about. It is marked under its own
    Postfix queue id and goes; the successor's own copy is another queue id,
    a repeat, which Postfix accepts and drops.
    """
    row = _claimed_row(mailpath)
    ml = row.delivery.post.mailing_list  # type: ignore[union-attr]
    assert claims.release_predecessor("by-hand") == 1
    again = claims.claim("successor", 10)
    assert again is not None and [r[0] for r in again.rows] == [row.id]

    _reinject(verp_sender(ml, row.id), row.email)  # the killed worker's late copy
    row.refresh_from_db()
    assert row.sent_at is not None and row.queue_id, "Postfix named no copy at end of data"
    late = row.queue_id
    _reinject(verp_sender(ml, row.id), row.email)  # the successor's copy
    row.refresh_from_db()
    assert row.queue_id == late, "the second copy took the mark"

    claims.record("successor", row.delivery_id, sent=[row.id])
    wait_for(lambda: mailpath.copies_to(row.email), timeout=30, what="the copy at SES")
    time.sleep(2)
    mailpath.flush()
    time.sleep(1)
    assert len(mailpath.copies_to(row.email)) == 1
    assert mailpath.queued() == []


def test_while_the_policy_service_is_down_copies_wait_and_then_go_exactly_once(
    mailpath: MailPath, handoff_policy
) -> None:
    handoff_policy.stop()
    ml = mailpath.make_list(members=3, posting_policy="open")
    everyone = {f"community.m{i}@example.net" for i in range(3)}
    mailpath.start_worker()
    mailpath.post(ml.address, subject="Policy down")
    wait_for(
        lambda: (
            Recipient.objects.filter(
                delivery__post__mailing_list=ml, error__contains="Hand-off policy"
            ).count()
            == 3
        ),
        timeout=60,
        what="Postfix to answer 4xx for every copy",
    )
    assert ours(mailpath) == []

    handoff_policy.start()
    wait_for(
        lambda: everyone <= {r for m in ours(mailpath) for r in m.rcpt_tos},
        timeout=90,
        what="every copy once the policy service is back",
    )
    time.sleep(2)
    received = Counter(r for m in ours(mailpath) for r in m.rcpt_tos)
    assert received == Counter(everyone)


def ours(mailpath: MailPath) -> list[Any]:
    """This test's copies (an earlier test's may still leave Postfix's queue)."""
    return [m for m in mailpath.ses.messages if "Policy down" in str(m.message["Subject"])]
