"""bulk_subscribe: many addresses in few statements, the same outcome as subscribe."""

from __future__ import annotations

from listkeeper.lib.addresses import Address
from listkeeper.lists import services
from listkeeper.lists.models import Member, Status, Subscription


def test_it_adds_reactivates_and_leaves_alone_across_batches(community):
    services.subscribe(community, "active@example.org", actor="test")
    left = services.subscribe(community, "left@example.org", actor="test").subscription
    services.unsubscribe(left, actor="test")
    services.get_or_create_member("Known@example.org", actor="test")  # a member on no list yet
    addresses = [Address(f"new{i}@example.org", f"New {i}") for i in range(7)] + [
        Address("active@example.org"),
        Address("left@example.org"),
        Address("Known@example.org", "Known Person"),
    ]
    seen = []
    result = services.bulk_subscribe(
        community, addresses, actor="test", batch_size=3, progress=seen.append
    )
    assert sorted(result.added) == sorted(
        [f"new{i}@example.org" for i in range(7)] + ["Known@example.org"]
    )
    assert result.reactivated == ["left@example.org"]
    assert result.already == ["active@example.org"]
    assert result.members_created == 7
    assert sum(seen) == 10 and len(seen) == 4
    subs = Subscription.objects.filter(mailing_list=community)
    assert subs.count() == 10
    assert not subs.exclude(status=Status.ACTIVE).exists()
    # Defaults come from the model, the sort key from the member.
    sub = subs.get(member__key="new3@example.org")
    assert (sub.role, sub.delivery, sub.source, sub.member_key) == (
        "member",
        "regular",
        "import",
        "new3@example.org",
    )
    assert Member.objects.get(key="known@example.org").name == "Known Person"


def test_it_keeps_an_existing_name(community):
    services.get_or_create_member("Ann Original <ann@example.org>", actor="test")
    services.bulk_subscribe(community, [Address("ann@example.org", "Other Name")], actor="test")
    assert Member.objects.get(key="ann@example.org").name == "Ann Original"
