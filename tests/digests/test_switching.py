"""Switching between each post and the digest: no post missed, none twice.

The rule (docs/digests.md): a post's regular recipients are recorded when it
is accepted; a digest issue's recipients when it is cut; a switch between
regular and digest takes effect right after the next cut.
"""

from __future__ import annotations

from collections import Counter

import pytest

from listkeeper.delivery import digests, ledger
from listkeeper.delivery.models import Recipient
from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, PostingPolicy, Subscription
from tests.digests.conftest import member, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def ml(community):
    community.posting_policy = PostingPolicy.OPEN
    community.save()
    return community


def _received(address: str) -> Counter[str]:
    """Subjects of the posts the address gets, regular or in a digest (by ledger)."""
    got: Counter[str] = Counter()
    for r in Recipient.objects.filter(email=address).select_related("delivery__post"):
        d = r.delivery
        if d.post is not None:
            got[d.post.subject] += 1
        else:
            for entry in d.digest.entries.select_related("post"):
                got[entry.post.subject] += 1
    return got


@pytest.mark.parametrize(
    ("start", "switch_to"),
    [
        ("regular", "digest"),
        ("digest", "regular"),
        ("regular", "digest-plain"),
        ("digest-plain", "regular"),
    ],
)
def test_a_member_switching_gets_every_post_exactly_once(ml, start, switch_to) -> None:
    sub = member(ml, "switcher@example.net", start)
    member(ml, "other@example.net", "digest")
    subjects = []
    for n in range(9):
        subjects.append(f"Post {n}")
        post(ml, subjects[-1])
        if n == 2:
            when = services.set_delivery(sub, switch_to, actor="test")
            assert when == "next-digest"
            sub.refresh_from_db()
            assert (sub.delivery, sub.delivery_next) == (start, switch_to)
        if n in (4, 7):
            digests.cut(ml, actor="test")
    digests.cut(ml, actor="test")
    sub.refresh_from_db()
    assert (sub.delivery, sub.delivery_next) == (switch_to, "")
    assert _received("switcher@example.net") == Counter(subjects)
    assert _received("other@example.net") == Counter(subjects)


def test_a_big_lists_post_is_recorded_before_a_cut_changes_anyone(ml, monkeypatch) -> None:
    monkeypatch.setattr(ledger, "INLINE_CHUNK", 2)
    for n in range(5):
        member(ml, f"m{n}@example.net")
    sub = Subscription.objects.get(member__key="m4@example.net")
    services.set_delivery(sub, "digest", actor="test")
    p = post(ml, "Big")
    assert p.delivery.expanding and p.delivery.total == 2
    digests.cut(ml, actor="test")
    assert _received("m4@example.net") == Counter({"Big": 1})


def test_nomail_and_format_changes_take_effect_at_once_and_are_audited(ml) -> None:
    sub = member(ml, "m@example.net", "digest")
    assert services.set_delivery(sub, "digest-plain", actor="test") == "now"
    assert services.set_delivery(sub, "nomail", actor="test") == "now"
    sub.refresh_from_db()
    assert sub.delivery == "nomail"
    actions = list(
        AuditEntry.objects.filter(member=sub.member, action="delivery")
        .order_by("id")
        .values_list("details", flat=True)
    )
    assert [(a["old"], a["new"]) for a in actions] == [
        ("digest", "digest-plain"),
        ("digest-plain", "nomail"),
    ]


def test_choosing_the_current_mode_again_cancels_a_waiting_switch(ml) -> None:
    sub = member(ml, "m@example.net")
    services.set_delivery(sub, "digest", actor="test")
    assert services.set_delivery(sub, "regular", actor="test") == "now"
    sub.refresh_from_db()
    assert (sub.delivery, sub.delivery_next) == ("regular", "")


def test_a_list_without_digests_refuses_them_and_moves_its_last_digest_members_back(ml) -> None:
    sub = member(ml, "d@example.net", "digest")
    newcomer = member(ml, "r@example.net")
    asked = member(ml, "asked@example.net")
    services.set_delivery(asked, "digest", actor="test")
    services.update_list(ml, actor="test", digests_enabled=False)
    with pytest.raises(services.ServiceError, match="sends no digests"):
        services.set_delivery(newcomer, "digest", actor="test")
    post(ml, "Last one")
    issue = digests.cut(ml, actor="test")
    assert issue is not None and issue.recipients == 1
    sub.refresh_from_db()
    asked.refresh_from_db()
    assert sub.delivery == "regular"
    assert (asked.delivery, asked.delivery_next) == ("regular", "")
    post(ml, "After")
    from listkeeper.delivery.models import DigestEntry

    assert DigestEntry.objects.filter(mailing_list=ml, issue__isnull=True).count() == 0
    assert _received("d@example.net") == Counter({"Last one": 1, "After": 1})
