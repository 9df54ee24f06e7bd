"""The import's fast normaliser gives exactly lib.addresses.normalise's answers."""

from __future__ import annotations

import pytest

from listkeeper.lib.addresses import InvalidAddress, normalise
from listkeeper.web.address_import import Normaliser

CASES = [
    "ann@example.org",
    "Ann.Example+tag@Example.ORG",
    " <bob@example.org> ",
    "o'brien@example.co.uk",
    "x!#$%&'*+/=?^_`{|}~-@example.org",
    "a" * 64 + "@example.org",
    "a" * 65 + "@example.org",
    "a@" + "b" * 63 + ".org",
    "a@" + "b" * 64 + ".org",
    "x" * 60 + "@" + ".".join(["d" * 60] * 3) + ".org",
    "ann@bücher.example",
    "ann@xn--bcher-kva.example",
    "jörg@example.org",
    '"quoted name"@example.org',
    "ann..b@example.org",
    ".ann@example.org",
    "ann.@example.org",
    "ann@example",
    "ann@localhost",
    "ann@host.local",
    "ann@something.arpa",
    "ann@example..org",
    "ann@-example.org",
    "ann@example.org.",
    "ann@123.456",
    "ann@[192.0.2.1]",
    "ann@",
    "@example.org",
    "ann",
    "",
    "ann@exa mple.org",
    "a@b@example.org",
]


def outcome(fn, raw: str) -> tuple[str, str]:
    try:
        return ("ok", fn(raw))
    except InvalidAddress as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("raw", CASES)
def test_it_agrees_with_normalise(raw):
    fast = Normaliser()
    assert outcome(fast, raw) == outcome(normalise, raw)
    # ...also when the domain is already in its cache.
    assert outcome(fast, raw) == outcome(normalise, raw)


def test_it_agrees_after_seeing_the_domain_with_another_local_part():
    fast = Normaliser()
    fast("first@Example.org")
    for raw in [
        "a..b@Example.org",
        "ok@Example.org",
        "jörg@Example.org",
        "x" * 250 + "@Example.org",
    ]:
        assert outcome(fast, raw) == outcome(normalise, raw)
