"""Each decision's effect on the post and on the delivery ledger."""

from __future__ import annotations

from listkeeper.delivery.models import Delivery, Recipient
from listkeeper.lists.models import ListSender, SenderKind, Status, Subscription
from listkeeper.mail.models import PostStatus
from tests.support.held import hold
from tests.support.notices import notice_text


def _act(client, ml, action, *posts, **extra):
    data = {"action": action, "post": [p.id for p in posts], **extra}
    return client.post(f"/lists/{ml.id}/held/", data, follow=True)


def _receivers(ml):
    return set(
        Subscription.objects.filter(mailing_list=ml, status=Status.ACTIVE).values_list(
            "member__email", flat=True
        )
    )


def test_it_delivers_an_approved_post_to_every_member_once(client, members, moderator):
    post = hold(members)
    client.force_login(moderator)
    response = _act(client, members, "approve", post)
    assert "approved" in response.content.decode()
    post.refresh_from_db()
    assert post.status == PostStatus.ACCEPTED
    assert post.decided_by == "mod@example.com"
    delivery = Delivery.objects.get(post=post)
    emails = list(Recipient.objects.filter(delivery=delivery).values_list("email", flat=True))
    assert sorted(emails) == sorted(_receivers(members))
    assert len(emails) == len(set(emails)) == 4  # three members and the moderator
    assert b"Cheap watches" in bytes(delivery.message)


def test_it_does_not_deliver_twice_when_approved_twice(client, members, moderator):
    post = hold(members)
    client.force_login(moderator)
    _act(client, members, "approve", post)
    response = _act(client, members, "approve", post)
    assert "already been decided" in response.content.decode()
    assert Delivery.objects.filter(post=post).count() == 1


def test_it_approves_and_always_allows_the_sender(client, members, moderator):
    post = hold(members, sender="friend@outside.example")
    client.force_login(moderator)
    _act(client, members, "approve_always", post)
    post.refresh_from_db()
    assert post.status == PostStatus.ACCEPTED
    assert ListSender.objects.filter(
        mailing_list=members, key="friend@outside.example", kind=SenderKind.ALLOWED
    ).exists()
    assert Delivery.objects.filter(post=post).count() == 1


def test_it_rejects_and_tells_the_sender_why(client, members, moderator):
    post = hold(members, sender="pest@outside.example")
    client.force_login(moderator)
    _act(client, members, "reject", post, reason="Off topic for this list")
    post.refresh_from_db()
    assert post.status == PostStatus.REJECTED
    assert not Delivery.objects.filter(post=post).exists()
    notices = Recipient.objects.filter(delivery__post__isnull=True)
    assert list(notices.values_list("email", flat=True)) == ["pest@outside.example"]
    assert "Off topic for this list" in notice_text(notices.get().delivery)
    assert not Recipient.objects.filter(email__startswith="member").exists()


def test_it_discards_without_sending_anything(client, members, moderator):
    post = hold(members)
    client.force_login(moderator)
    _act(client, members, "discard", post)
    post.refresh_from_db()
    assert post.status == PostStatus.DISCARDED
    assert Delivery.objects.count() == 0


def test_it_acts_on_a_selection_and_leaves_the_rest(client, members, moderator):
    first, second, third = (hold(members, subject=f"Post {n}") for n in range(3))
    client.force_login(moderator)
    response = _act(client, members, "approve", first, third)
    assert "2 posts approved" in response.content.decode()
    statuses = {p.subject: p.status for p in (first, second, third) if not p.refresh_from_db()}
    assert statuses == {"Post 0": "accepted", "Post 1": "held", "Post 2": "accepted"}
    assert Delivery.objects.filter(post__isnull=False).count() == 2
    page = response.content.decode()
    assert "Post 1" in page and "Post 0" not in page


def test_it_discards_a_selection(client, members, moderator):
    posts = [hold(members, subject=f"Spam {n}") for n in range(2)]
    client.force_login(moderator)
    _act(client, members, "discard", *posts)
    assert {p.status for p in posts if not p.refresh_from_db()} == {"discarded"}
    assert Delivery.objects.count() == 0


def test_it_explains_why_a_post_cannot_be_approved(client, members, moderator):
    post = hold(members, b"\r\n\r\nA body with no header fields at all.\r\n")
    client.force_login(moderator)
    page = _act(client, members, "approve", post).content.decode()
    assert "no header fields" in page
    post.refresh_from_db()
    assert post.status == PostStatus.HELD
