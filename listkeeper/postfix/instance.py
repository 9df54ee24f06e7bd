"""The private Postfix instance run by `serve` and the tests (placeholder: see issue 2)."""

from __future__ import annotations


def describe() -> str:
    return "not running"
