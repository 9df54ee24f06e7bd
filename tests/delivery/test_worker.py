"""The worker against a real SMTP server standing in for Postfix's reinjection listener."""

from __future__ import annotations

import email
import time
from collections import Counter
from email import policy

import pytest

from listkeeper.delivery import claims
from listkeeper.delivery.ledger import enqueue_message
from listkeeper.delivery.models import (
    Delivery,
    JobState,
    Recipient,
    RecipientState,
    WorkerHeartbeat,
)
from listkeeper.delivery.pacing import OVERSHARE
from listkeeper.lib import tokens
from listkeeper.lists import services
from tests.support.delivery import post_to
from tests.support.lmtp import database_down
from tests.support.servers import SinkHandler, smtp_sink
from tests.support.worker import WorkerThread, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _done(delivery: Delivery) -> bool:
    delivery.refresh_from_db()
    return delivery.state == JobState.DONE


def test_it_sends_every_member_exactly_one_personal_copy(community, sink) -> None:
    handler, server = sink
    delivery = post_to(community, 30)

    worker = WorkerThread(server.port, connections=3).start()
    wait_for(lambda: _done(delivery), what="the delivery to finish")
    worker.stop()

    received = Counter(r for m in handler.messages for r in m.rcpt_tos)
    assert received == Counter({f"m{i}@example.net": 1 for i in range(30)})
    assert all(len(m.rcpt_tos) == 1 for m in handler.messages)
    delivery.refresh_from_db()
    assert (delivery.handed_off, delivery.failed, delivery.total) == (30, 0, 30)
    for m in handler.messages:
        msg = email.message_from_bytes(m.data, policy=policy.SMTP)
        row = Recipient.objects.get(delivery=delivery, email=m.rcpt_tos[0])
        assert m.mail_from.startswith("community-bounces+")
        assert tokens.read_verp_token(m.mail_from.split("+")[1].split("@")[0]) == row.id
        token = msg["List-Unsubscribe"].split("/u/")[1].split("/")[0]
        assert tokens.read_unsubscribe_token(token) == (community.id, row.member_id)
        assert f"/u/{token}/" in msg.get_content()


def test_it_sends_a_shared_copy_to_at_most_fifty_recipients_at_a_time(community, sink) -> None:
    handler, server = sink
    services.update_list(community, actor="test", personalised=False)
    delivery = post_to(community, 120)

    worker = WorkerThread(server.port).start()
    wait_for(lambda: _done(delivery), what="the delivery to finish")
    worker.stop()

    assert sorted(r for m in handler.messages for r in m.rcpt_tos) == sorted(
        f"m{i}@example.net" for i in range(120)
    )
    assert max(len(m.rcpt_tos) for m in handler.messages) == 50
    assert {m.mail_from for m in handler.messages} == {"community-bounces@lists.example.org"}
    assert b"@@UNSUBSCRIBE_URL@@" not in handler.messages[0].data
    assert b"/l/community@lists.example.org/" in handler.messages[0].data


def test_it_marks_a_recipient_postfix_refuses_as_failed_and_sends_the_rest(community, sink) -> None:
    handler, server = sink
    handler.refuse["m3@example.net"] = "550 5.1.1 <m3@example.net>: Recipient address rejected"
    delivery = post_to(community, 5)

    worker = WorkerThread(server.port).start()
    wait_for(lambda: _done(delivery), what="the delivery to finish")
    worker.stop()

    delivery.refresh_from_db()
    assert (delivery.handed_off, delivery.failed) == (4, 1)
    failed = Recipient.objects.get(delivery=delivery, state=RecipientState.FAILED)
    assert failed.email == "m3@example.net" and "550 5.1.1" in failed.error


def test_it_waits_for_postfix_to_come_back_and_then_sends_everyone(community) -> None:
    delivery = post_to(community, 10)
    handler = SinkHandler(data_reply="451 4.3.0 Try again later")
    down = smtp_sink(handler)
    worker = WorkerThread(down.port).start()
    wait_for(
        lambda: Recipient.objects.filter(delivery=delivery, error__contains="451").exists(),
        what="a first refusal",
    )
    assert handler.messages == []
    handler.data_reply = "250 2.0.0 Ok: queued"
    wait_for(lambda: _done(delivery), what="the delivery to finish")
    worker.stop()
    down.stop()

    assert sorted(r for m in handler.messages for r in m.rcpt_tos) == sorted(
        f"m{i}@example.net" for i in range(10)
    )


def test_it_hands_back_unsent_claims_when_stopped(community, sink) -> None:
    _, server = sink
    delivery = post_to(community, 50)

    worker = WorkerThread(server.port, rate=5, connections=1).start()
    wait_for(
        lambda: Recipient.objects.filter(delivery=delivery, state=RecipientState.SENT).exists(),
        what="a first copy",
    )
    worker.stop()

    states = Counter(Recipient.objects.filter(delivery=delivery).values_list("state", flat=True))
    assert states[RecipientState.CLAIMED] == 0
    assert states[RecipientState.PENDING] + states[RecipientState.SENT] == 50


def test_it_takes_back_the_claims_of_a_worker_that_died(community) -> None:
    delivery = post_to(community, 10)
    claims.heartbeat("dead-worker", 30)
    claimed = claims.claim("dead-worker", 4)
    assert claimed is not None and len(claimed.rows) == 4

    assert claims.release_stale(30) == 0  # still within its heartbeat
    Recipient.objects.filter(delivery=delivery).update(claimed_at="2000-01-01T00:00:00Z")
    WorkerHeartbeat.objects.filter(name="dead-worker").update(seen="2000-01-01T00:00:00Z")

    assert claims.release_stale(30) == 4
    assert Recipient.objects.filter(delivery=delivery, state=RecipientState.PENDING).count() == 10


def test_it_only_looks_for_dead_workers_while_every_worker_is_alive(
    community, django_assert_num_queries
) -> None:
    """Every worker runs release_stale every few seconds, in the middle of paced sending."""
    post_to(community, 10)
    claims.heartbeat("live-worker", 30)
    assert claims.claim("live-worker", 4) is not None

    with django_assert_num_queries(1):  # is any heartbeat stale? No: nothing to write
        assert claims.release_stale(30) == 0


def test_it_sends_paced_what_its_killed_predecessor_under_the_same_name_left_claimed(
    community, sink
) -> None:
    # A worker container killed with SIGKILL restarts with the same hostname,
    # so the new worker has the old one's name: its heartbeat would keep the
    # old claims "live" and release_stale would never free them.
    handler, server = sink
    delivery = post_to(community, 12)
    claims.heartbeat("worker-host", 30)
    claimed = claims.claim("worker-host", 6)
    assert claimed is not None and len(claimed.rows) == 6

    worker = WorkerThread(server.port, name="worker-host", rate=5).start()
    wait_for(lambda: _done(delivery), timeout=15, what="the delivery to finish")
    worker.stop()

    received = Counter(r for m in handler.messages for r in m.rcpt_tos)
    assert received == Counter({f"m{i}@example.net": 1 for i in range(12)})
    # The copies taken back went through the pacer like the others, not all at
    # once (that would put 6 and the next ones into the first second). The sink
    # notes arrivals, not hand-offs: on a loaded machine one copy delayed by more
    # than the pacer's headroom (31 ms at 5/s) shares a second with the next five.
    times = sorted(m.at for m in handler.messages)
    assert max(sum(1 for t in times if s <= t < s + 1) for s in times) <= 5 + 1


def test_it_sends_what_it_had_queued_when_its_heartbeat_lapsed_in_a_database_outage(
    community, sink
) -> None:
    # Without a fresh heartbeat a worker stops sending (another might count it
    # dead and take its claims). What it had claimed and queued must go back
    # to the ledger: its own heartbeat, renewed after the outage, would
    # otherwise keep those claims "live" and nobody would ever send them.
    handler, server = sink
    delivery = post_to(community, 20)
    worker = WorkerThread(server.port, rate=5, connections=1, stale_after=2).start()
    wait_for(lambda: len(handler.messages) >= 2, what="the first copies")

    with database_down():
        time.sleep(2)  # over stale_after / 2 without a heartbeat
    wait_for(lambda: _done(delivery), timeout=20, what="the delivery to finish")
    worker.stop()

    received = Counter(r for m in handler.messages for r in m.rcpt_tos)
    assert received == Counter({f"m{i}@example.net": 1 for i in range(20)})


def test_what_it_claimed_just_before_the_database_went_away_goes_back(
    community, sink, monkeypatch
) -> None:
    # The claim committed, then the next query (the list domains) failed: the
    # rows are the worker's in the ledger and in no queue of it. They must go
    # back, or its renewed heartbeat keeps them from everyone for ever (the
    # compose db-restart fault once left one copy so).
    from django.db import OperationalError

    handler, server = sink
    delivery = post_to(community, 20)
    list_domains = claims.list_domains
    failures = []

    def fail_once() -> frozenset[str]:
        if not failures:
            failures.append(time.monotonic())
            raise OperationalError("terminating connection due to administrator command")
        return list_domains()

    monkeypatch.setattr(claims, "list_domains", fail_once)
    worker = WorkerThread(server.port, connections=1, claim_size=5).start()
    wait_for(lambda: _done(delivery), timeout=20, what="the delivery to finish")
    worker.stop()

    assert failures  # the fault happened after a claim
    received = Counter(r for m in handler.messages for r in m.rcpt_tos)
    assert received == Counter({f"m{i}@example.net": 1 for i in range(20)})
    assert not Recipient.objects.filter(delivery=delivery, state=RecipientState.CLAIMED).exists()


def test_a_claim_whose_answer_was_lost_is_taken_back(community, sink, monkeypatch) -> None:
    # The claim's COMMIT reached the server, then the connection broke before
    # the worker read the answer: rows claimed under its name that it never
    # saw. Its next heartbeat must give them back, or they wait for ever.
    from django.db import OperationalError

    handler, server = sink
    delivery = post_to(community, 20)
    claim = claims.claim
    lost: list[int] = []

    def answer_lost(worker: str, limit: int) -> claims.Claimed | None:
        batch = claim(worker, limit)
        if batch is not None and not lost:
            lost.extend(r[0] for r in batch.rows)
            raise OperationalError("server closed the connection unexpectedly")
        return batch

    monkeypatch.setattr(claims, "claim", answer_lost)
    worker = WorkerThread(server.port, connections=1, claim_size=5).start()
    wait_for(lambda: _done(delivery), timeout=20, what="the delivery to finish")
    worker.stop()

    assert len(lost) == 5  # the first claim committed and its answer was dropped
    received = Counter(r for m in handler.messages for r in m.rcpt_tos)
    assert received == Counter({f"m{i}@example.net": 1 for i in range(20)})
    assert not Recipient.objects.filter(delivery=delivery, state=RecipientState.CLAIMED).exists()


def test_a_failed_claim_takes_back_only_what_the_worker_does_not_hold(community) -> None:
    # What the worker holds (claimed, in its queues or in flight) stays its own.
    delivery = post_to(community, 10)
    held = claims.claim("w", 4)
    unseen = claims.claim("w", 3)
    assert held is not None and unseen is not None

    assert claims.release_unheld("w", {r[0] for r in held.rows}) == 3

    claimed = set(
        Recipient.objects.filter(delivery=delivery, state=RecipientState.CLAIMED).values_list(
            "id", flat=True
        )
    )
    assert claimed == {r[0] for r in held.rows}
    unseen_ids = [r[0] for r in unseen.rows]
    assert set(Recipient.objects.filter(id__in=unseen_ids).values_list("state", "claimed_by")) == {
        (RecipientState.PENDING, "")
    }


def test_it_lets_two_workers_share_a_fan_out_without_sending_anyone_twice(community, sink) -> None:
    handler, server = sink
    delivery = post_to(community, 200)

    workers = [WorkerThread(server.port, name=f"w{i}", claim_size=10).start() for i in range(2)]
    wait_for(lambda: _done(delivery), what="the delivery to finish")
    for w in workers:
        w.stop()

    received = Counter(r for m in handler.messages for r in m.rcpt_tos)
    assert len(received) == 200 and set(received.values()) == {1}
    assert set(
        Recipient.objects.filter(delivery=delivery).values_list("claimed_by", flat=True)
    ) == {"w0", "w1"}


def test_it_sends_our_own_notices_too(db, sink) -> None:
    handler, server = sink
    # What LedgerEmailBackend does for Django's send_mail (tests swap the backend out).
    enqueue_message(
        b"Subject: Confirm\r\n\r\nPlease confirm.\r\n",
        ["new@example.net"],
        "listkeeper@lists.example.org",
    )

    worker = WorkerThread(server.port).start()
    wait_for(lambda: len(handler.messages) == 1, what="the notice")
    worker.stop()

    assert handler.messages[0].rcpt_tos == ["new@example.net"]
    assert b"Please confirm." in handler.messages[0].data


def test_it_skips_members_who_left_after_the_post_was_accepted(community, sink) -> None:
    handler, server = sink
    delivery = post_to(community, 10)
    leaving = community.subscriptions.select_related("member").get(member__email="m3@example.net")
    services.unsubscribe(leaving, actor="test")

    worker = WorkerThread(server.port).start()
    wait_for(lambda: _done(delivery), what="the delivery to finish")
    worker.stop()

    received = {r for m in handler.messages for r in m.rcpt_tos}
    assert "m3@example.net" not in received
    assert len(received) == 9
    assert (
        Recipient.objects.get(delivery=delivery, email="m3@example.net").state
        == RecipientState.SKIPPED
    )


def test_it_takes_its_share_of_the_rate_while_another_worker_is_alive_and_all_of_it_after(
    sink,
) -> None:
    _, server = sink
    WorkerHeartbeat.objects.create(name="other-host:1")
    worker = WorkerThread(server.port, rate=10, stale_after=30).start()
    try:
        # Half, and a quarter over it for the relay gate to cap (pacing.OVERSHARE).
        wait_for(
            lambda: worker.worker.pacer.rate == 10 / 2 * OVERSHARE,
            what="the worker to take its share of the rate",
        )
        # The other one stops cleanly (release_own deletes its heartbeat): the
        # next recount, a second later, gives this one the whole rate.
        claims.release_own("other-host:1")
        wait_for(lambda: worker.worker.pacer.rate == 10, timeout=10, what="the whole rate")
    finally:
        worker.stop()
