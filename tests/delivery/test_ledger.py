from __future__ import annotations

from listkeeper.delivery.ledger import enqueue_post
from listkeeper.lists import services
from listkeeper.lists.models import DeliveryMode, Post, PostStatus, Suppression


def test_it_records_only_active_regular_unsuppressed_members(community) -> None:
    for addr in ["a@example.org", "b@example.org", "c@example.org", "d@example.org"]:
        services.subscribe(community, addr, actor="test")
    subs = {s.member.email: s for s in community.subscriptions.select_related("member")}
    services.unsubscribe(subs["b@example.org"], actor="test")
    services.set_delivery(subs["c@example.org"], DeliveryMode.NOMAIL, actor="test")
    Suppression.objects.create(key="d@example.org", reason="hard bounce")
    post = Post.objects.create(mailing_list=community, sender="a@example.org", raw=b"x", status=PostStatus.ACCEPTED)

    delivery = enqueue_post(post, b"message", "community-bounces@lists.example.org")

    assert delivery.total == 1
    assert list(delivery.recipients.values_list("email", flat=True)) == ["a@example.org"]
