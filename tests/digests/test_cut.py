"""Cutting an issue: the pending posts, once, in order, to the digest members."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from listkeeper.delivery import digests
from listkeeper.delivery.models import Delivery, DigestEntry, Recipient
from listkeeper.lists.models import PostingPolicy
from tests.digests.conftest import member, parsed, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def ml(community):
    community.posting_policy = PostingPolicy.OPEN
    community.save()
    member(community, "reg@example.net")
    member(community, "mime@example.net", "digest")
    member(community, "plain@example.net", "digest-plain")
    return community


def _rows(delivery: Delivery) -> list[str]:
    return sorted(Recipient.objects.filter(delivery=delivery).values_list("email", flat=True))


def test_it_records_each_accepted_post_as_pending_digest_content(ml) -> None:
    posts = [post(ml, f"Topic {n}") for n in range(3)]
    assert [p.status for p in posts] == ["accepted"] * 3
    entries = list(DigestEntry.objects.filter(mailing_list=ml).order_by("id"))
    assert [e.post_id for e in entries] == [p.id for p in posts]
    assert all(e.issue_id is None for e in entries)
    # Regular copies go to the regular member only.
    for p in posts:
        assert _rows(p.delivery) == ["reg@example.net"]
    # The digest form has no footer.
    assert b"@@UNSUBSCRIBE_URL@@" not in bytes(entries[0].message)
    assert b"Unsubscribe:" not in bytes(entries[0].message)


def test_it_cuts_one_issue_with_every_post_in_order_to_each_digest_member(ml) -> None:
    posts = [post(ml, f"Topic {n}") for n in range(5)]
    issue = digests.cut(ml, actor="test")
    assert issue is not None
    assert (issue.volume, issue.number, issue.posts, issue.recipients) == (1, 1, 5, 2)
    assert list(issue.entries.order_by("id").values_list("post_id", flat=True)) == [
        p.id for p in posts
    ]
    mime = Delivery.objects.get(digest=issue, digest_mode="digest")
    plain = Delivery.objects.get(digest=issue, digest_mode="digest-plain")
    assert _rows(mime) == ["mime@example.net"]
    assert _rows(plain) == ["plain@example.net"]
    msg = parsed(mime.message)
    assert msg["Subject"] == "Community Digest, Vol 1, Issue 1"
    toc, digest, footer = msg.iter_parts()
    assert digest.get_content_type() == "multipart/digest"
    inner = list(digest.iter_parts())
    assert [p.get_content_type() for p in inner] == ["message/rfc822"] * 5
    assert [p.get_content()["Subject"] for p in inner] == [f"Topic {n}" for n in range(5)]
    assert "@@UNSUBSCRIBE_URL@@" in footer.get_content()
    assert "1. Topic 0 (Alice)" in toc.get_content()
    # Nothing is pending any more; the next cut has nothing to do.
    assert digests.cut(ml, actor="test") is None
    post(ml, "Later")
    second = digests.cut(ml, actor="test")
    assert second is not None and (second.volume, second.number, second.posts) == (1, 2, 1)


def test_the_plain_digest_follows_rfc_1153(ml) -> None:
    for n in range(2):
        post(ml, f"Topic {n}", body=f"Body {n}\r\n" + "-" * 30 + "\r\nafter the rule")
    issue = digests.cut(ml, actor="test")
    plain = Delivery.objects.get(digest=issue, digest_mode="digest-plain")
    msg = parsed(plain.message)
    assert msg.get_content_type() == "text/plain"
    lines = msg.get_content().splitlines()
    assert lines.count("-" * 70) == 1
    # One 30-hyphen line after each message and after the footer; the one in
    # a body is indented so it cannot end that message.
    assert lines.count("-" * 30) == 3
    assert lines.count(" " + "-" * 30) == 2
    end = lines.index("End of Community Digest, Vol 1, Issue 1")
    assert lines[end + 1] == "*" * len(lines[end])
    first = lines.index("-" * 70)
    assert lines[first + 2].startswith("Date: ")
    assert "Subject: Topic 0" in lines[first + 2 : first + 8]


def test_a_new_year_starts_a_new_volume(ml) -> None:
    post(ml, "One")
    digests.cut(ml, actor="test", now=datetime(2026, 12, 31, 12, tzinfo=UTC))
    post(ml, "Two")
    issue = digests.cut(ml, actor="test", now=datetime(2027, 1, 1, 12, tzinfo=UTC))
    assert issue is not None and (issue.volume, issue.number) == (2, 1)


def test_a_form_nobody_reads_is_not_built(community) -> None:
    community.posting_policy = PostingPolicy.OPEN
    community.save()
    member(community, "reg@example.net")
    member(community, "mime@example.net", "digest")
    post(community, "Only MIME readers")
    issue = digests.cut(community, actor="test")
    assert issue is not None
    assert list(Delivery.objects.filter(digest=issue).values_list("digest_mode", flat=True)) == [
        "digest"
    ]


def test_a_bounce_of_a_digest_copy_names_the_member_and_the_list(ml) -> None:
    from listkeeper.delivery.personalise import verp_sender
    from listkeeper.feedback import verp

    post(ml, "Bounced")
    issue = digests.cut(ml, actor="test")
    row = Recipient.objects.get(delivery__digest=issue, email="mime@example.net")
    proof = verp.read(verp_sender(ml, row.id), ml)
    assert proof.ok
    assert (proof.email, proof.mailing_list, proof.recipient) == ("mime@example.net", ml, row)
    assert proof.member is not None and proof.member.key == "mime@example.net"
