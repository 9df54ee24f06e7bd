from __future__ import annotations

from listkeeper.delivery.models import Delivery, Recipient
from listkeeper.lists import services
from listkeeper.lists.models import Role
from listkeeper.mail.models import PostStatus
from tests.support.accounts import make_user
from tests.support.api import client_for
from tests.support.held import hold
from tests.support.notices import notice_text


def test_it_lists_held_posts_only(api, community):
    held = hold(community, subject="Waiting")
    done = hold(community, subject="Done")
    done.status = PostStatus.DISCARDED
    done.save()
    response = api.get(f"/lists/{community.id}/held")
    assert response.status_code == 200
    assert [(p["id"], p["subject"], p["reason"]) for p in response.json()] == [
        (held.id, "Waiting", "The sender is not a member")
    ]


def test_it_approves_a_held_post_for_a_moderator(community):
    services.subscribe(community, "reader@example.com", actor="test")
    services.subscribe(community, "mod@example.com", actor="test", role=Role.MODERATOR)
    api = client_for(make_user("mod@example.com"))
    post = hold(community)
    response = api.post(f"/lists/{community.id}/held/{post.id}/approve")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted"
    assert response.json()["decided_by"] == "api:mod@example.com"
    emails = Recipient.objects.filter(delivery__post=post).values_list("email", flat=True)
    assert sorted(emails) == ["mod@example.com", "reader@example.com"]
    again = api.post(f"/lists/{community.id}/held/{post.id}/approve")
    assert again.status_code == 409
    assert "no longer held" in again.json()["detail"]
    assert Delivery.objects.filter(post=post).count() == 1


def test_it_rejects_with_a_reason_sent_to_the_sender(api, community):
    post = hold(community, sender="pest@outside.example")
    response = api.post(
        f"/lists/{community.id}/held/{post.id}/reject", {"reason": "Please ask the owner first"}
    )
    assert response.json()["status"] == "rejected"
    notice = Recipient.objects.get(email="pest@outside.example")
    assert "Please ask the owner first" in notice_text(notice.delivery)


def test_it_discards_silently(api, community):
    post = hold(community)
    response = api.post(f"/lists/{community.id}/held/{post.id}/discard")
    assert response.json()["status"] == "discarded"
    assert Delivery.objects.count() == 0


def test_it_hides_another_lists_posts(api, community, other_list):
    post = hold(other_list)
    assert api.get(f"/lists/{other_list.id}/held").status_code == 404
    assert api.post(f"/lists/{other_list.id}/held/{post.id}/discard").status_code == 404
    assert api.post(f"/lists/{community.id}/held/{post.id}/discard").status_code == 404
    post.refresh_from_db()
    assert post.status == PostStatus.HELD


def test_it_explains_a_post_that_cannot_be_sent(api, community):
    post = hold(community, b"\r\n\r\nA body with no header fields at all.\r\n")
    response = api.post(f"/lists/{community.id}/held/{post.id}/approve")
    assert response.status_code == 409
    assert "no header fields" in response.json()["detail"]
    assert "discard it" in response.json()["detail"]
    post.refresh_from_db()
    assert post.status == PostStatus.HELD
    assert api.post(f"/lists/{community.id}/held/{post.id}/discard").status_code == 200
