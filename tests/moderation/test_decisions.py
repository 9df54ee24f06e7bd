"""Deciding on held posts: approve, reject, discard, expiry (mail/moderation.py)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lists.models import (
    AuditEntry,
    ListSender,
    MailingList,
    PostingPolicy,
    Role,
    SenderKind,
)
from listkeeper.mail import process
from listkeeper.mail.models import Post, PostStatus
from listkeeper.mail.moderation import ModerationError
from tests.support.mail import load, outbox, parse_out

MOD = "mod@example.org"


@pytest.fixture
def ml(community: MailingList) -> MailingList:
    return community


@pytest.fixture
def held(ml) -> Post:
    for address in ["alice@example.com", "bob@example.org"]:
        services.subscribe(ml, address, actor="test")
    services.subscribe(ml, MOD, actor="test", role=Role.MODERATOR)
    post = process.handle_post(ml, load("nonascii-8bit.eml"), "joerg@beispiel.de")
    assert post.status == PostStatus.HELD
    Delivery.objects.filter(post__isnull=True).delete()  # the held notice
    return post


def test_it_delivers_an_approved_post_as_if_it_had_been_accepted(held, ml) -> None:
    process.approve(held, actor=MOD)

    held.refresh_from_db()
    assert (held.status, held.decided_by) == (PostStatus.ACCEPTED, MOD)
    delivery = Delivery.objects.get(post=held)
    assert sorted(delivery.recipients.values_list("email", flat=True)) == [
        "alice@example.com",
        "bob@example.org",
        MOD,
    ]
    assert delivery.envelope_from == "community-bounces@lists.example.org"
    sent = parse_out(bytes(delivery.message))
    assert str(sent["From"]) == "Jörg Müller via Community <community@lists.example.org>"
    assert "Straßenfest".encode() in bytes(delivery.message)
    assert AuditEntry.objects.filter(action="post.approve", actor=MOD, mailing_list=ml).exists()
    assert outbox() == []


def test_it_approves_a_post_only_once(held) -> None:
    process.approve(held, actor=MOD)

    with pytest.raises(ModerationError, match=f"no longer held: it was accepted by {MOD}"):
        process.approve(Post.objects.get(id=held.id), actor="other@example.org")
    with pytest.raises(ModerationError):
        process.discard(Post.objects.get(id=held.id), actor="other@example.org")
    assert Delivery.objects.filter(post=held).count() == 1


def test_it_always_allows_the_sender_when_asked(held, ml) -> None:
    process.approve(held, actor=MOD, always_allow=True)

    assert ListSender.objects.filter(
        mailing_list=ml, key="joerg@beispiel.de", kind=SenderKind.ALLOWED
    ).exists()
    again = process.handle_post(ml, load("nonascii-8bit.eml"), "joerg@beispiel.de")
    assert again.status == PostStatus.ACCEPTED


def test_it_makes_the_sender_a_named_poster_on_an_announce_list(ml) -> None:
    services.update_list(ml, actor="test", posting_policy=PostingPolicy.ANNOUNCE)
    post = process.handle_post(ml, load("plain.eml"), "alice@example.com")

    process.approve(post, actor=MOD, always_allow=True)

    assert (
        process.handle_post(ml, load("reply-references.eml"), "dave@example.com").status
        == PostStatus.HELD
    )
    assert (
        process.handle_post(ml, load("plain.eml"), "alice@example.com").status
        == PostStatus.ACCEPTED
    )


def test_it_rejects_a_held_post_and_tells_the_sender_why(held, ml) -> None:
    process.reject(held, actor=MOD, reason="Please keep to the list's topic.")

    held.refresh_from_db()
    assert held.status == PostStatus.REJECTED
    assert held.reason == "rejected by a moderator: Please keep to the list's topic."
    [notice] = outbox()
    assert notice.to == ["joerg@beispiel.de"]
    assert "Please keep to the list's topic." in notice.text
    assert not Delivery.objects.filter(post=held).exists()
    assert AuditEntry.objects.filter(action="post.reject", actor=MOD).exists()


def test_it_discards_a_held_post_without_a_word(held) -> None:
    process.discard(held, actor=MOD)

    held.refresh_from_db()
    assert held.status == PostStatus.DISCARDED
    assert outbox() == []
    assert AuditEntry.objects.filter(action="post.discard", actor=MOD).exists()


def test_it_expires_old_held_posts_and_tells_their_senders(held, ml) -> None:
    services.update_list(ml, actor="test", held_expiry_days=14)
    fresh = process.handle_post(ml, load("latin1-8bit.eml"), "francois@exemple.fr")
    Post.objects.filter(id=held.id).update(received=timezone.now() - timedelta(days=15))
    Delivery.objects.filter(post__isnull=True).delete()

    assert process.expire_held() == 1

    held.refresh_from_db()
    fresh.refresh_from_db()
    assert (held.status, held.decided_by) == (PostStatus.REJECTED, "system")
    assert fresh.status == PostStatus.HELD
    [notice] = outbox()
    assert notice.to == ["joerg@beispiel.de"]
    assert "no moderator approved it within 14 days" in notice.text
    assert process.expire_held() == 0


def test_it_never_expires_when_the_list_says_zero_days(held, ml) -> None:
    services.update_list(ml, actor="test", held_expiry_days=0)
    Post.objects.filter(id=held.id).update(received=timezone.now() - timedelta(days=400))

    assert process.expire_held() == 0


def test_it_refuses_to_approve_what_cannot_be_sent(ml) -> None:
    post = process.handle_post(ml, b"garbage without headers\n", "x@example.com")

    with pytest.raises(ModerationError, match="no header fields"):
        process.approve(post, actor=MOD)
    assert Post.objects.get(id=post.id).status == PostStatus.HELD


def test_it_approves_a_post_without_a_readable_from(ml) -> None:
    services.subscribe(ml, "alice@example.com", actor="test")
    post = process.handle_post(ml, b"From: nobody\nSubject: hi\n\nbody\n", "x@example.com")

    process.approve(post, actor=MOD)

    sent = parse_out(bytes(Delivery.objects.get(post=post).message))
    assert sent["From"].addresses[0].addr_spec == "community@lists.example.org"


def test_it_expires_and_sends_postponed_notices_from_the_command(held, ml) -> None:
    Post.objects.filter(id=held.id).update(received=timezone.now() - timedelta(days=30))
    out = StringIO()

    call_command("mail-housekeeping", stdout=out)

    assert out.getvalue().strip() == "expired 1 held post(s); mailed moderators of 0 list(s)"
    assert Post.objects.get(id=held.id).status == PostStatus.REJECTED
