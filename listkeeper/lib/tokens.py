"""Signed, URL-safe tokens for links we mail out (unsubscribe, confirm, VERP).

Built on Django's signing (HMAC with SECRET_KEY); a token names what it is for
(the salt) so one kind can never be replayed as another.
"""

from __future__ import annotations

from typing import Any

from django.core import signing


class BadToken(ValueError):
    """A token that was tampered with, expired, or made for something else."""


def make(purpose: str, payload: Any) -> str:
    return signing.dumps(payload, salt=f"listkeeper.{purpose}", compress=True)


def read(purpose: str, token: str, max_age: float | None = None) -> Any:
    try:
        return signing.loads(token, salt=f"listkeeper.{purpose}", max_age=max_age)
    except signing.SignatureExpired:
        raise BadToken("this link has expired") from None
    except signing.BadSignature:
        raise BadToken("this link is not valid (it may have been altered or cut short)") from None
