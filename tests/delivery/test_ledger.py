from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from listkeeper.delivery import ledger
from listkeeper.delivery.ledger import enqueue_post
from listkeeper.lib.addresses import parse
from listkeeper.lists import services
from listkeeper.lists.models import DeliveryMode, Suppression
from listkeeper.mail.models import Post, PostStatus


def test_it_records_only_active_regular_unsuppressed_members(community) -> None:
    for addr in ["a@example.org", "b@example.org", "c@example.org", "d@example.org"]:
        services.subscribe(community, addr, actor="test")
    subs = {s.member.email: s for s in community.subscriptions.select_related("member")}
    services.unsubscribe(subs["b@example.org"], actor="test")
    services.set_delivery(subs["c@example.org"], DeliveryMode.NOMAIL, actor="test")
    Suppression.objects.create(key="d@example.org", reason="hard bounce")
    post = Post.objects.create(
        mailing_list=community, sender="a@example.org", raw=b"x", status=PostStatus.ACCEPTED
    )

    delivery = enqueue_post(post, b"message", "community-bounces@lists.example.org")

    assert delivery.total == 1
    assert list(delivery.recipients.values_list("email", flat=True)) == ["a@example.org"]


def test_it_records_a_big_list_in_chunks_and_the_worker_completes_it(
    community, monkeypatch
) -> None:
    from listkeeper.delivery import claims

    monkeypatch.setattr(ledger, "INLINE_CHUNK", 10)
    services.bulk_subscribe(
        community, [parse(f"m{i}@example.net") for i in range(25)], actor="test"
    )
    post = Post.objects.create(
        mailing_list=community, sender="a@example.org", raw=b"x", status=PostStatus.ACCEPTED
    )

    delivery = enqueue_post(post, b"message", "community-bounces@lists.example.org")

    assert (delivery.total, delivery.expanding) == (10, True)
    claimed = []
    while (batch := claims.claim("w", 7)) is not None:
        claimed += [email for _, email, _ in batch.rows]
    delivery.refresh_from_db()
    assert sorted(claimed) == sorted(f"m{i}@example.net" for i in range(25))
    assert (delivery.total, delivery.expanding) == (25, False)


def _subscription_rows_read(plan: dict) -> int:
    """Rows a plan node (and those under it) read from lists_subscription."""
    read = 0
    if plan.get("Relation Name") == "lists_subscription":
        read += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return read + sum(_subscription_rows_read(p) for p in plan.get("Plans", []))


def test_a_chunk_of_a_big_list_reads_only_that_chunk_of_subscriptions(db) -> None:
    # The LMTP accept records the first chunk of a big list while Postfix
    # waits: on PostgreSQL the chunk's query read and sorted every
    # subscription of the list (100,000 members: 76-100 ms of the accept).
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's indexes end in the rowid: the order comes free there")
    people = [parse(f"m{i}@example.net") for i in range(1500)]
    lists = [services.create_list(f"l{n}", "lists.example.org", actor="test") for n in range(4)]
    for ml in lists:  # the last list's subscriptions come after everyone else's
        services.bulk_subscribe(ml, people, actor="test")
    big = lists[-1]
    post = Post.objects.create(
        mailing_list=big, sender="a@example.org", raw=b"x", status=PostStatus.ACCEPTED
    )

    with CaptureQueriesContext(connection) as queries:
        delivery = enqueue_post(post, b"message", "l3-bounces@lists.example.org")
    assert delivery.total == ledger.INLINE_CHUNK

    boundary = [q["sql"] for q in queries if "OFFSET" in q["sql"]]
    assert len(boundary) == 1
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + boundary[0])
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert _subscription_rows_read(plan[0]["Plan"]) <= 2 * ledger.INLINE_CHUNK
