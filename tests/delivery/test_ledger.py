from __future__ import annotations

from listkeeper.delivery.ledger import enqueue_post
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
    from listkeeper.delivery import claims, ledger
    from listkeeper.lib.addresses import parse

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
