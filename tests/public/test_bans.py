from __future__ import annotations

import pytest

from listkeeper.lib.addresses import parse
from listkeeper.lists import bans, services
from listkeeper.lists.models import AuditEntry, Ban, Member, Subscription


@pytest.mark.parametrize(
    ("pattern", "address", "banned"),
    [
        ("bob@example.org", "bob@example.org", True),
        ("bob@example.org", "BOB@Example.ORG", True),
        ("BOB@EXAMPLE.ORG", "bob@example.org", True),
        ("bob@example.org", "bobby@example.org", False),
        ("*@spam.example", "anyone@spam.example", True),
        ("*@spam.example", "Anyone@SPAM.Example", True),
        ("*@spam.example", "anyone@sub.spam.example", False),
        ("*@*.spam.example", "anyone@sub.spam.example", True),
        ("@spam.example", "anyone@spam.example", True),
        ("promo-*@example.com", "promo-42@example.com", True),
        ("promo-*@example.com", "info@example.com", False),
    ],
)
def test_it_matches_exact_addresses_and_patterns_ignoring_case(
    community, pattern, address, banned
) -> None:
    services.add_ban(community, pattern, actor="test")
    assert bans.is_banned(community, address) is banned


def test_it_applies_a_site_wide_ban_to_every_list_and_a_list_ban_to_one(community) -> None:
    other = services.create_list("other", "lists.example.org", actor="test")
    services.add_ban(None, "*@spam.example", actor="test")
    services.add_ban(community, "bob@example.org", actor="test")
    assert bans.is_banned(community, "x@spam.example")
    assert bans.is_banned(other, "x@spam.example")
    assert bans.is_banned(None, "x@spam.example")
    assert bans.is_banned(community, "bob@example.org")
    assert not bans.is_banned(other, "bob@example.org")
    assert not bans.is_banned(None, "bob@example.org")


def test_it_refuses_to_subscribe_a_banned_address_and_writes_nothing(community) -> None:
    services.add_ban(community, "*@spam.example", actor="test")
    with pytest.raises(services.Banned, match="x@spam.example is banned from community@"):
        services.subscribe(community, "x@spam.example", actor="test")
    assert Member.objects.count() == 0


def test_it_skips_banned_addresses_in_a_bulk_import(community) -> None:
    services.add_ban(None, "*@spam.example", actor="test")
    result = services.bulk_subscribe(
        community, [parse("a@example.org"), parse("b@SPAM.example")], actor="test"
    )
    assert result.added == ["a@example.org"]
    assert result.banned == ["b@spam.example"]
    assert list(Subscription.objects.values_list("member__email", flat=True)) == ["a@example.org"]


def test_it_audits_adding_and_removing_a_ban(community) -> None:
    ban = services.add_ban(community, " *@Spam.Example ", actor="owner@example.org", reason="spam")
    assert ban.pattern == "*@spam.example"
    # Adding it again changes nothing.
    assert services.add_ban(community, "*@spam.example", actor="owner@example.org") == ban
    services.remove_ban(ban, actor="owner@example.org")
    assert not bans.is_banned(community, "x@spam.example")
    actions = list(
        AuditEntry.objects.filter(action__startswith="ban.").values_list("action", "actor")
    )
    assert sorted(actions) == [
        ("ban.add", "owner@example.org"),
        ("ban.remove", "owner@example.org"),
    ]
    assert Ban.objects.count() == 0


@pytest.mark.parametrize(
    "pattern", ["", "   ", "*", "*@*", "not an address", "two words@example.org"]
)
def test_it_refuses_a_pattern_it_cannot_use_with_a_reason(community, pattern) -> None:
    with pytest.raises(bans.BadPattern) as excinfo:
        services.add_ban(community, pattern, actor="test")
    assert str(excinfo.value)
    assert Ban.objects.count() == 0


def test_it_keeps_site_wide_bans_unique(community) -> None:
    services.add_ban(None, "bob@example.org", actor="test")
    services.add_ban(None, "BOB@example.org", actor="test")
    assert Ban.objects.count() == 1
