"""RFC 3834: automatic mail and mail from the null sender never reach the members."""

from __future__ import annotations

import pytest

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lists.models import Role
from listkeeper.mail import process
from listkeeper.mail.models import PostStatus
from tests.support.mail import load, outbox

OWNER = "owner@example.org"


@pytest.fixture
def members(ml):
    services.subscribe(ml, "alice@example.com", actor="test")
    services.subscribe(ml, OWNER, actor="test", role=Role.OWNER)
    return ml


@pytest.mark.parametrize(
    "field, sender",
    [
        (b"Auto-Submitted: auto-replied", "alice@example.com"),
        (b"Auto-Submitted: auto-generated; owner-email=alice@example.com", "alice@example.com"),
        (b"Precedence: bulk", "alice@example.com"),
        (b"Precedence: junk", "alice@example.com"),
        (b"Precedence: list", "alice@example.com"),
        (b"", ""),
        (b"", "<>"),
    ],
)
def test_it_holds_automatic_mail_for_the_owner_and_answers_nobody(members, field, sender) -> None:
    raw = (field + b"\n" if field else b"") + load("plain.eml")

    post = process.handle_post(members, raw, sender)

    assert post.status == PostStatus.HELD
    assert "automatic" in post.reason
    assert not Delivery.objects.filter(post=post).exists()
    # The only mail sent is the owner's held-post notice.
    assert [n.to for n in outbox()] == [[OWNER]]


def test_it_still_distributes_mail_that_says_it_is_not_automatic(members) -> None:
    raw = b"Auto-Submitted: no\nPrecedence: first-class\n" + load("plain.eml")

    assert process.handle_post(members, raw, "alice@example.com").status == PostStatus.ACCEPTED


def test_it_drops_a_robots_answer_to_one_of_our_own_notices(members) -> None:
    answer = (
        b"Auto-Submitted: auto-replied\n"
        b"In-Reply-To: <179603215942.4983.8557269356650558867.listkeeper-notice@lists.example.org>\n"
    )

    post = process.handle_post(members, answer + load("plain.eml"), "alice@example.com")

    assert post.status == PostStatus.DISCARDED
    assert "one of the list's own notices" in post.reason
    assert outbox() == []


def test_it_marks_every_notice_so_an_answer_to_it_can_be_recognised(members) -> None:
    services.update_list(members, actor="test", nonmember_action="reject")
    process.handle_post(members, load("nonascii-8bit.eml"), "joerg@beispiel.de")

    [notice] = outbox()
    assert notice.message["Message-ID"].endswith(".listkeeper-notice@lists.example.org>")
    assert notice.message["Auto-Submitted"] == "auto-replied"
