from __future__ import annotations

import pytest

from listkeeper.lib.addresses import InvalidAddress, normalise, parse


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bob@example.org", "bob@example.org"),
        ("  Bob@Example.ORG ", "Bob@example.org"),
        ("<bob@example.org>", "bob@example.org"),
        ("bob@bücher.example", "bob@xn--bcher-kva.example"),
    ],
)
def test_it_normalises_addresses(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "bob", "bob@", "@example.org", "bob@@example.org", "bob smith@example.org"]
)
def test_it_refuses_invalid_addresses_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidAddress) as exc:
        normalise(raw)
    assert str(exc.value)


def test_it_parses_name_and_address() -> None:
    addr = parse('"Bob Smith" <Bob@Example.org>')
    assert addr.email == "Bob@example.org"
    assert addr.name == "Bob Smith"
    assert addr.key == "bob@example.org"
