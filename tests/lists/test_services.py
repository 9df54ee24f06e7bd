from __future__ import annotations

import pytest

from listkeeper.lib.addresses import InvalidAddress, parse
from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Member, Status


def test_it_treats_addresses_differing_in_case_as_one_member(community) -> None:
    other = services.create_list("other", "lists.example.org", actor="test")
    services.subscribe(community, "Bob@Example.org", actor="test")
    result = services.subscribe(other, "bob@example.org", actor="test")
    assert Member.objects.count() == 1
    assert result.outcome == "created"
    assert set(
        Member.objects.get().subscriptions.values_list("mailing_list__local_part", flat=True)
    ) == {
        "community",
        "other",
    }


def test_it_reports_an_existing_subscription_as_already(community) -> None:
    services.subscribe(community, "bob@example.org", actor="test")
    assert services.subscribe(community, "BOB@example.org", actor="test").outcome == "already"


def test_it_reactivates_an_unsubscribed_member(community) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    assert services.unsubscribe(sub, actor="test") is True
    assert services.unsubscribe(sub, actor="test") is False
    assert services.subscribe(community, "bob@example.org", actor="test").outcome == "reactivated"
    sub.refresh_from_db()
    assert sub.status == Status.ACTIVE


def test_it_refuses_an_invalid_address_and_writes_nothing(community) -> None:
    with pytest.raises(InvalidAddress):
        services.subscribe(community, "not an address", actor="test")
    assert Member.objects.count() == 0


def test_it_writes_an_audit_entry_for_each_change(community) -> None:
    services.subscribe(community, "bob@example.org", actor="alice@example.org")
    entry = AuditEntry.objects.filter(action="subscribe").get()
    assert entry.actor == "alice@example.org"
    assert entry.mailing_list == community


@pytest.mark.parametrize(
    "name", ["community-request", "community-owner", "community-bounces", "community"]
)
def test_it_refuses_list_names_that_clash_with_another_lists_addresses(
    community, name: str
) -> None:
    with pytest.raises(services.ListAddressError):
        services.create_list(name, "lists.example.org", actor="test")


def test_it_refuses_a_list_whose_own_addresses_would_clash(db) -> None:
    services.create_list("team-owner", "lists.example.org", actor="test")
    with pytest.raises(services.ListAddressError):
        services.create_list("team", "lists.example.org", actor="test")


def test_it_bulk_subscribes_and_dedupes(community) -> None:
    services.subscribe(community, "old@example.org", actor="test")
    addrs = [
        parse(a) for a in ["a@example.org", "A@example.org", "old@example.org", "b@example.org"]
    ]
    result = services.bulk_subscribe(community, addrs, actor="test")
    assert sorted(result.added) == ["a@example.org", "b@example.org"]
    assert result.already == ["old@example.org"]
    assert community.subscriptions.count() == 3


def test_it_merges_members_when_an_address_changes_to_an_existing_one(community) -> None:
    other = services.create_list("other", "lists.example.org", actor="test")
    a = services.subscribe(community, "a@example.org", actor="test").subscription.member
    b = services.subscribe(other, "b@example.org", actor="test").subscription.member
    kept = services.change_address(a, "B@example.org", actor="test")
    assert kept.id == b.id
    assert Member.objects.count() == 1
    assert kept.subscriptions.count() == 2
