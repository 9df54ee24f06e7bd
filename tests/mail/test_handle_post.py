from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lists.models import Ban, NonMemberAction, Role
from listkeeper.mail import moderation, process
from listkeeper.mail.handlers import subject_tag
from listkeeper.mail.models import Post, PostStatus
from tests.support.mail import load, outbox, parse_out

MEMBERS = ["alice@example.com", "bob@example.org", "carol@example.net"]


@pytest.fixture
def members(ml):
    for address in MEMBERS:
        services.subscribe(ml, address, actor="test")
    services.subscribe(ml, "owner@example.org", actor="test", role=Role.OWNER)
    services.subscribe(ml, "mod@example.org", actor="test", role=Role.MODERATOR)
    return ml


def test_it_accepts_a_members_post_and_queues_it_for_every_member(members) -> None:
    post = process.handle_post(members, load("plain.eml"), "alice@example.com")

    post.refresh_from_db()
    assert post.status == PostStatus.ACCEPTED
    assert post.reason == "alice@example.com is a member of this list"
    assert (post.author, post.subject, post.size) == (
        "alice@example.com",
        "Meeting on Thursday",
        len(load("plain.eml")),
    )
    assert post.message_id == "<20240514091230.GA1234@mail.example.com>"
    delivery = Delivery.objects.get(post=post)
    assert delivery.envelope_from == "community-bounces@lists.example.org"
    assert sorted(delivery.recipients.values_list("email", flat=True)) == sorted(
        MEMBERS + ["owner@example.org", "mod@example.org"]
    )
    sent = parse_out(bytes(delivery.message))
    assert sent["From"].addresses[0].addr_spec == "community@lists.example.org"
    assert sent["List-Id"] == "Community <community.lists.example.org>"
    # Stored as it arrived, with our Authentication-Results on top (RFC 8601).
    stored = bytes(post.raw)
    assert stored.startswith(b"Authentication-Results: lists.example.org; dkim=none")
    assert stored.endswith(load("plain.eml"))
    assert outbox() == []


def test_it_holds_a_non_members_post_queues_nothing_and_tells_the_moderators(members) -> None:
    post = process.handle_post(members, load("dkim-gmail.eml"), "bob.sender@gmail.com")

    assert post.status == PostStatus.HELD
    assert post.reason == "bob.sender@gmail.com is not a member of this members-only list"
    assert not Delivery.objects.filter(post__isnull=False).exists()
    [notice] = outbox()
    assert sorted(notice.to) == ["mod@example.org", "owner@example.org"]
    assert notice.envelope_from == "community-bounces@lists.example.org"
    assert notice.message["From"].addresses[0].addr_spec == "community-owner@lists.example.org"
    assert "Photos from the picnic" in notice.text
    assert "bob.sender@gmail.com is not a member" in notice.text


def test_it_mails_the_moderators_at_most_once_an_hour(members) -> None:
    process.handle_post(members, load("dkim-gmail.eml"), "bob.sender@gmail.com")
    process.handle_post(members, load("nonascii-8bit.eml"), "joerg@beispiel.de")
    process.handle_post(members, load("latin1-8bit.eml"), "francois@exemple.fr")

    assert len(outbox()) == 1
    assert moderation.send_due_held_notices(timezone.now() + timedelta(minutes=30)) == 0
    assert len(outbox()) == 1

    assert moderation.send_due_held_notices(timezone.now() + timedelta(minutes=61)) == 1
    latest = outbox()[-1]
    assert "3 posts waiting" in str(latest.message["Subject"])
    assert "Réunion de juin" in latest.text and "Grüße aus Köln" in latest.text
    # Nothing new since: no further notice, however long we wait.
    assert moderation.send_due_held_notices(timezone.now() + timedelta(hours=5)) == 0


def test_it_rejects_a_non_member_when_the_list_says_so_and_tells_them(members) -> None:
    services.update_list(members, actor="test", nonmember_action=NonMemberAction.REJECT)

    post = process.handle_post(members, load("nonascii-8bit.eml"), "joerg@beispiel.de")

    assert post.status == PostStatus.REJECTED
    [notice] = outbox()
    assert notice.to == ["joerg@beispiel.de"]
    assert notice.message["Auto-Submitted"] == "auto-replied"
    assert notice.message["In-Reply-To"] == "<e1f2a3b4c5d6@beispiel.de>"
    assert "only members may post" in notice.text
    assert "Grüße aus Köln" in notice.text


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.com",
        "community-bounces@lists.example.org",
        "community-bounces+abc123@lists.example.org",
        "other-request@lists.elsewhere.net",
        "announce-owner@lists.example.org",
        "owner-things@example.net",
        "community@lists.example.org",
        "sibling@lists.example.org",
    ],
)
def test_it_never_sends_a_reject_notice_to_a_robot_or_a_list(members, sender) -> None:
    services.create_list("sibling", "lists.example.org", actor="test")
    services.update_list(members, actor="test", nonmember_action=NonMemberAction.REJECT)

    post = process.handle_post(members, load("nonascii-8bit.eml"), sender)

    assert post.status == PostStatus.REJECTED
    assert outbox() == []


def test_it_sends_no_reject_notice_in_answer_to_list_mail(members) -> None:
    services.update_list(members, actor="test", nonmember_action=NonMemberAction.REJECT)
    raw = b"List-Id: <other.lists.elsewhere.net>\n" + load("nonascii-8bit.eml")

    assert process.handle_post(members, raw, "joerg@beispiel.de").status == PostStatus.REJECTED
    assert outbox() == []


def test_it_holds_a_looping_post_for_the_owner_and_tells_nobody_else(members) -> None:
    raw = b"X-Loop: community@lists.example.org\n" + load("plain.eml")

    post = process.handle_post(members, raw, "alice@example.com")

    assert post.status == PostStatus.HELD
    assert "mail loop" in post.reason
    assert not Delivery.objects.filter(post=post).exists()
    assert [sorted(n.to) for n in outbox()] == [["mod@example.org", "owner@example.org"]]


def test_it_rejects_a_banned_members_post_and_tells_the_sender(members) -> None:
    Ban.objects.create(mailing_list=None, pattern="alice@*")

    post = process.handle_post(members, load("plain.eml"), "alice@example.com")

    assert post.status == PostStatus.REJECTED
    assert not Delivery.objects.filter(post=post).exists()
    [notice] = outbox()
    assert notice.to == ["alice@example.com"]
    assert "alice@example.com is banned from every list on this site" in notice.text


def test_it_rejects_an_oversized_post_keeping_only_its_headers(members) -> None:
    services.update_list(members, actor="test", max_message_size=1000)
    raw = load("html-text-attachment.eml")

    post = process.handle_post(members, raw, "carol@example.net")

    post.refresh_from_db()
    assert post.status == PostStatus.REJECTED
    assert post.size == len(raw)
    stored = bytes(post.raw)
    assert stored.startswith(b"Authentication-Results: ")
    assert b"\nReceived: from EUR05" in stored and b"JVBERi0x" not in stored
    assert "at most 1 KB" in outbox()[0].text


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"", "the message is empty"),
        (load("garbage.eml"), "the message has no header fields"),
        (b"Subject: hi\n\nno from\n", "the message has no From: header"),
        (b"From: not an address\nSubject: hi\n\nbody\n", "holds no valid address"),
    ],
)
def test_it_holds_a_message_it_cannot_read_with_a_clear_reason(members, raw, reason) -> None:
    post = process.handle_post(members, raw, "someone@example.com")

    assert post.status == PostStatus.HELD
    assert reason in post.reason
    assert bytes(post.raw).endswith(raw)
    assert len(outbox()) == 1


def test_it_holds_a_post_the_pipeline_chokes_on(members, monkeypatch) -> None:
    def broken(ctx):
        raise ValueError("something odd in the subject")

    monkeypatch.setattr("listkeeper.mail.pipeline.PIPELINE", [broken, subject_tag.handle])

    post = process.handle_post(members, load("plain.eml"), "alice@example.com")

    assert post.status == PostStatus.HELD
    assert (
        post.reason
        == "the message could not be processed (ValueError: something odd in the subject)"
    )
    assert not Delivery.objects.filter(post=post).exists()


def test_it_stores_nothing_and_raises_when_the_database_fails(members, monkeypatch) -> None:
    # The LMTP server answers 451 on this, and Postfix retries: nothing is lost.
    def down(*args, **kwargs):
        raise OperationalError("database is unavailable")

    monkeypatch.setattr("listkeeper.mail.process.enqueue_post", down)

    with pytest.raises(OperationalError):
        process.handle_post(members, load("plain.eml"), "alice@example.com")

    assert not Post.objects.exists()


def test_it_adds_the_generated_message_id_to_the_post(members) -> None:
    post = process.handle_post(members, load("no-message-id.eml"), "alice@example.com")

    assert post.status == PostStatus.ACCEPTED
    assert post.message_id.endswith("@lists.example.org>")
    assert post.message_id.encode() in bytes(Delivery.objects.get(post=post).message)


def test_it_reads_a_message_saved_with_an_mbox_from_line(members) -> None:
    raw = b"From alice@example.com Tue May 14 09:12:33 2024\n" + load("plain.eml")

    post = process.handle_post(members, raw, "alice@example.com")

    assert (post.status, post.subject) == (PostStatus.ACCEPTED, "Meeting on Thursday")
    assert not bytes(Delivery.objects.get(post=post).message).startswith(b"From ")


def test_it_stores_a_post_whose_headers_carry_nul_characters(members) -> None:
    # PostgreSQL refuses NUL in text; the post must still be stored, not retried forever.
    raw = load("plain.eml").replace(
        b"Subject: Meeting on Thursday", b"Subject: =?utf-8?q?Meet=00ing?="
    )

    post = process.handle_post(members, raw, "alice@example.com")

    post.refresh_from_db()
    assert (post.status, post.subject) == (PostStatus.ACCEPTED, "Meeting")
