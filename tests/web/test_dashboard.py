"""The dashboard: lists with counts, posts with outcomes, sending progress, held posts, bounces."""

from __future__ import annotations

from django.urls import reverse

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lists.models import Role, Status
from listkeeper.mail.models import Post, PostStatus
from tests.support.html import attrs, text, texts


def test_it_shows_lists_posts_progress_held_and_bounces(owner_client, alpha, beta):
    for i in range(3):
        services.subscribe(alpha, f"m{i}@example.org", actor="test")
    bouncy = services.subscribe(alpha, "bouncy@example.org", actor="test").subscription
    services.set_status(bouncy, Status.DISABLED, actor="system", reason="5 hard bounces")
    services.subscribe(beta, "hidden@example.org", actor="test")
    sent = Post.objects.create(
        mailing_list=alpha,
        sender="m0@example.org",
        subject="Picnic on Sunday",
        raw=b"",
        status=PostStatus.ACCEPTED,
    )
    Post.objects.create(
        mailing_list=alpha,
        sender="x@example.net",
        subject="Cheap pills",
        raw=b"",
        status=PostStatus.HELD,
        reason="non-member post",
    )
    Post.objects.create(
        mailing_list=beta,
        sender="y@example.net",
        subject="Beta secret",
        raw=b"",
        status=PostStatus.ACCEPTED,
    )
    Delivery.objects.create(
        post=sent,
        message=b"",
        envelope_from="alpha-bounces@lists.example.org",
        state="running",
        total=200,
        handed_off=50,
    )

    body = owner_client.get(reverse("dashboard")).content.decode()
    # The owner counts as an active member too: 3 + owner.
    assert "4" in texts(body, "td", cls="num")
    assert "Picnic on Sunday" in body and "Accepted" in body
    assert "Held for moderation: non-member post" in body
    assert [(a["max"], a["value"]) for a in attrs(body, "progress")] == [("200", "50")]
    assert texts(body, "td", cls="num").count("1 waiting") == 1
    assert f'href="/lists/{alpha.id}/held/"' in body
    assert "bouncy@example.org" in body and "5 hard bounces" in body
    assert "beta@lists.example.org" not in body and "Beta secret" not in body


def test_it_invites_a_site_admin_to_create_the_first_list(admin_client):
    body = admin_client.get(reverse("dashboard")).content.decode()
    assert "Create the first list" in body


def test_it_says_a_held_post_was_approved_not_accepted_for_its_hold_reason(admin_client, alpha):
    from listkeeper.mail import moderation
    from tests.support.held import hold

    post = hold(alpha, reason="stranger@outside.example is not a member of this members-only list")
    moderation.approve(post, "mod@example.org")
    body = admin_client.get(reverse("dashboard")).content
    (shown,) = texts(body, "td", cls="outcome")
    assert shown == (
        "Approved by mod@example.org (held because stranger@outside.example is not a member "
        "of this members-only list)"
    )


def test_it_lists_what_needs_attention(admin_client, alpha, beta):
    from tests.support.held import hold

    services.subscribe(alpha, "owner@example.org", actor="test", role=Role.OWNER)
    hold(alpha)
    hold(alpha, subject="Second")
    body = admin_client.get(reverse("dashboard")).content.decode()
    assert texts(body, "li", cls="warn") == [
        "2 held posts wait on alpha@lists.example.org for a moderator Review"
    ]
    assert texts(body, "strong", id="ownerless-heading") == ["1 list without an owner."]
    assert text(body, id="count-held") == "2"


def test_it_says_when_nothing_needs_attention(owner_client, alpha):
    body = owner_client.get(reverse("dashboard")).content.decode()
    assert text(body, id="attention").startswith("Nothing needs you right now.")
