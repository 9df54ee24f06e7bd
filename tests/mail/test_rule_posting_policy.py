from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import NonMemberAction, PostingPolicy, Role, SenderKind, Status
from listkeeper.mail import rules
from listkeeper.mail.errors import Hold, Reject
from listkeeper.mail.models import PostStatus
from tests.support.mail import make_ctx

ALICE = "alice@example.com"  # the From of plain.eml


def policy(ml, value: str, **more) -> None:
    services.update_list(ml, actor="test", posting_policy=value, **more)


def decide(ml) -> rules.Decision:
    return rules.decide(make_ctx(ml, "plain.eml"))


def test_it_accepts_anyone_on_an_open_list(ml) -> None:
    policy(ml, PostingPolicy.OPEN)

    assert decide(ml) == rules.Decision(PostStatus.ACCEPTED, "anyone may post to this list")


def test_it_accepts_a_member_of_a_members_only_list_whatever_the_case(ml) -> None:
    services.subscribe(ml, "ALICE@example.com", actor="test")

    decision = decide(ml)

    assert decision.status == PostStatus.ACCEPTED
    assert "is a member" in decision.reason


def test_it_holds_a_non_member_on_a_members_only_list(ml) -> None:
    decision = decide(ml)

    assert decision == rules.Decision(
        PostStatus.HELD, f"{ALICE} is not a member of this members-only list"
    )


def test_it_rejects_a_non_member_when_the_list_says_so(ml) -> None:
    services.update_list(ml, actor="test", nonmember_action=NonMemberAction.REJECT)

    assert decide(ml).status == PostStatus.REJECTED


@pytest.mark.parametrize("status", [Status.PENDING, Status.UNSUBSCRIBED])
def test_it_does_not_count_pending_or_departed_members(ml, status) -> None:
    services.subscribe(ml, ALICE, actor="test", status=status)

    assert decide(ml).status == PostStatus.HELD


def test_it_lets_a_member_disabled_by_bounces_post(ml) -> None:
    services.subscribe(ml, ALICE, actor="test", status=Status.DISABLED)

    assert decide(ml).status == PostStatus.ACCEPTED


def test_it_always_accepts_an_allowed_non_member(ml) -> None:
    services.add_list_sender(ml, ALICE, SenderKind.ALLOWED, actor="test")

    assert decide(ml).status == PostStatus.ACCEPTED
    policy(ml, PostingPolicy.MODERATED)
    assert decide(ml).status == PostStatus.ACCEPTED


def test_it_holds_every_member_post_on_a_moderated_list(ml) -> None:
    policy(ml, PostingPolicy.MODERATED)
    services.subscribe(ml, ALICE, actor="test")

    assert decide(ml) == rules.Decision(
        PostStatus.HELD, "this list is moderated: every post waits for a moderator"
    )


@pytest.mark.parametrize("role", [Role.OWNER, Role.MODERATOR])
def test_it_lets_owners_and_moderators_post_to_a_moderated_list(ml, role) -> None:
    policy(ml, PostingPolicy.MODERATED)
    services.subscribe(ml, ALICE, actor="test", role=role)

    assert decide(ml).status == PostStatus.ACCEPTED


def test_it_takes_only_named_posters_on_an_announce_list(ml) -> None:
    policy(ml, PostingPolicy.ANNOUNCE)
    services.subscribe(ml, ALICE, actor="test")
    services.add_list_sender(ml, ALICE, SenderKind.ALLOWED, actor="test")

    assert decide(ml) == rules.Decision(
        PostStatus.HELD, f"{ALICE} is not a named poster of this announce-only list"
    )

    services.add_list_sender(ml, ALICE, SenderKind.POSTER, actor="test")
    assert decide(ml).status == PostStatus.ACCEPTED


def test_it_holds_a_moderated_member_whatever_the_policy(ml) -> None:
    policy(ml, PostingPolicy.OPEN)
    sub = services.subscribe(ml, ALICE, actor="test").subscription
    sub.moderated = True
    sub.save()

    assert decide(ml) == rules.Decision(
        PostStatus.HELD, f"posts from {ALICE} are moderated on this list"
    )


def test_it_raises_hold_and_reject_from_the_rule_itself(ml) -> None:
    with pytest.raises(Hold):
        rules.posting_policy(make_ctx(ml, "plain.eml"))
    services.update_list(ml, actor="test", nonmember_action=NonMemberAction.REJECT)
    with pytest.raises(Reject, match="only members may post to community@lists.example.org"):
        rules.posting_policy(make_ctx(ml, "plain.eml"))
