from __future__ import annotations

import pytest

from listkeeper.lists.routing import resolve


@pytest.mark.parametrize(
    ("address", "kind", "token"),
    [
        ("community@lists.example.org", "post", ""),
        ("Community@Lists.Example.org", "post", ""),
        ("community-request@lists.example.org", "request", ""),
        ("community-owner@lists.example.org", "owner", ""),
        ("community-bounces@lists.example.org", "bounces", ""),
        ("community-bounces+abc123@lists.example.org", "bounces", "abc123"),
    ],
)
def test_it_resolves_each_of_a_lists_addresses(
    community, address: str, kind: str, token: str
) -> None:
    route = resolve(address)
    assert route is not None
    assert route.mailing_list == community
    assert (route.kind, route.token) == (kind, token)


@pytest.mark.parametrize(
    "address",
    [
        "other@lists.example.org",
        "community@elsewhere.example",
        "community-admin@lists.example.org",
        "community+x@lists.example.org",
    ],
)
def test_it_resolves_nothing_for_unknown_addresses(community, address: str) -> None:
    assert resolve(address) is None
