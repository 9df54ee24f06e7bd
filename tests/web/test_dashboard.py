"""The dashboard: lists with counts, posts with outcomes, sending progress, held posts, bounces."""

from __future__ import annotations

from django.urls import reverse

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lists.models import Post, PostStatus, Status
from tests.support.html import parse, table_rows


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
    # The owner counts as an active member too: 3 + owner; beta is not theirs.
    lists = [row for row in table_rows(body) if row[0].endswith("@lists.example.org")]
    assert [(row[0], row[2], row[3]) for row in lists][:1] == [
        ("alpha@lists.example.org", "4", "1 waiting")
    ]
    assert "Picnic on Sunday" in body and "Accepted" in body
    assert "Held for moderation: non-member post" in body
    [progress] = parse(body).iter("progress")
    assert (progress.attrs["max"], progress.attrs["value"]) == ("200", "50")
    assert f'href="/lists/{alpha.id}/held/">1 waiting' in body
    assert "bouncy@example.org" in body and "5 hard bounces" in body
    assert "beta@lists.example.org" not in body and "Beta secret" not in body


def test_it_invites_a_site_admin_to_create_the_first_list(admin_client):
    body = admin_client.get(reverse("dashboard")).content.decode()
    assert "Create the first list" in body
