"""Subscription.member_key, the sort key of a list's members, follows the member's address."""

from __future__ import annotations

from listkeeper.lib.addresses import Address
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Member, Subscription


def keys(ml: MailingList) -> set[tuple[str, str]]:
    return {
        (s.member_key, s.member.key)
        for s in Subscription.objects.filter(mailing_list=ml).select_related("member")
    }


def test_it_sets_the_key_on_subscribe_and_bulk_subscribe(community):
    services.subscribe(community, "Ann@Example.org", actor="test")
    services.bulk_subscribe(
        community, [Address("Bob@example.org"), Address("carol@example.org")], actor="test"
    )
    assert keys(community) == {
        ("ann@example.org", "ann@example.org"),
        ("bob@example.org", "bob@example.org"),
        ("carol@example.org", "carol@example.org"),
    }


def test_it_follows_a_change_of_address_and_a_merge(community):
    other = services.create_list("other", "lists.example.org", actor="test")
    ann = services.subscribe(community, "ann@example.org", actor="test").subscription.member
    services.change_address(ann, "anna@example.org", actor="test")
    assert keys(community) == {("anna@example.org", "anna@example.org")}
    bob = services.subscribe(other, "bob@example.org", actor="test").subscription.member
    services.change_address(Member.objects.get(id=ann.id), "bob@example.org", actor="test")
    assert keys(community) == {("bob@example.org", "bob@example.org")}
    assert Subscription.objects.get(mailing_list=community).member_id == bob.id


def test_it_fills_the_key_when_a_subscription_is_saved_without_one(community):
    member = Member.objects.create(email="dave@example.org", key="dave@example.org")
    Subscription.objects.create(member=member, mailing_list=community)
    assert keys(community) == {("dave@example.org", "dave@example.org")}
