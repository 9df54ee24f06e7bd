"""Signed, URL-safe tokens for links and addresses we mail out.

Built on Django's signing (HMAC with SECRET_KEY); a token names what it is for
(the salt) so one kind can never be replayed as another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _


class BadToken(ValueError):
    """A token that was tampered with, expired, or made for something else."""


def make(purpose: str, payload: Any, *, compress: bool = True) -> str:
    return signing.dumps(payload, salt=f"listkeeper.{purpose}", compress=compress)


def read(purpose: str, token: str, max_age: float | None = None) -> Any:
    try:
        age = None if max_age is None else timedelta(seconds=max_age)
        return signing.loads(token, salt=f"listkeeper.{purpose}", max_age=age)
    except signing.SignatureExpired:
        raise BadToken(_("this link has expired")) from None
    except signing.BadSignature:
        raise BadToken(
            _("this link is not valid (it may have been altered or cut short)")
        ) from None


# Keyed HMACs, made once per SECRET_KEY and copied per use: a copy skips
# deriving and padding the key, which is most of the cost of a short HMAC.
_keyed: dict[tuple[str, bytes], hmac.HMAC] = {}


def _hmac(key_material: bytes) -> hmac.HMAC:
    secret = settings.SECRET_KEY
    base = _keyed.get((secret, key_material))
    if base is None:
        if len(_keyed) > 16:  # SECRET_KEY changed (tests): drop the old keys
            _keyed.clear()
        base = _keyed[(secret, key_material)] = hmac.new(key_material, digestmod=hashlib.sha256)
    return base.copy()


# Unsubscribe: names list and member, never expires (RFC 8058 links live in old mail).
def unsubscribe_token(list_id: int, member_id: int) -> str:
    """`make("unsubscribe", [list_id, member_id], compress=False)`, byte for byte.

    One per copy of every post, so it is Django's TimestampSigner.sign_object
    written out with the salted key made once (tests/lib compare the two):
    base64(JSON) : base62(time) : base64(HMAC-SHA256 keyed with
    sha256(salt + "signer" + SECRET_KEY)).
    """
    data = signing.b64_encode(b"[%d,%d]" % (list_id, member_id)).decode()
    value = f"{data}:{signing.b62_encode(int(time.time()))}"
    key = hashlib.sha256(b"listkeeper.unsubscribesigner" + settings.SECRET_KEY.encode()).digest()
    mac = _hmac(key)
    mac.update(value.encode())
    return f"{value}:{signing.b64_encode(mac.digest()).decode()}"


def read_unsubscribe_token(token: str) -> tuple[int, int]:
    list_id, member_id = read("unsubscribe", token)
    return int(list_id), int(member_id)


# Confirming a subscription (double opt-in): list and address, expires.
CONFIRM_MAX_AGE = 7 * 24 * 3600


def confirm_token(list_id: int, email: str) -> str:
    return make("confirm", [list_id, email])


def read_confirm_token(token: str, max_age: float = CONFIRM_MAX_AGE) -> tuple[int, str]:
    list_id, email = read("confirm", token, max_age=max_age)
    return int(list_id), str(email)


# Managing one's own subscriptions: the address, expires.
def manage_token(email: str) -> str:
    return make("manage", email)


def read_manage_token(token: str, max_age: float = CONFIRM_MAX_AGE) -> str:
    return str(read("manage", token, max_age=max_age))


# VERP: list-bounces+TOKEN@domain names one ledger row. It must be a valid,
# short local part, so it is base32 of (id, truncated HMAC), lowercase, no padding.
def _verp_mac(recipient_id: int) -> bytes:
    mac = _hmac(settings.SECRET_KEY.encode())
    mac.update(b"verp:%d" % recipient_id)
    return mac.digest()[:6]


def verp_token(recipient_id: int) -> str:
    raw = recipient_id.to_bytes(8, "big") + _verp_mac(recipient_id)
    return base64.b32encode(raw).decode().rstrip("=").lower()


def read_verp_token(token: str) -> int:
    try:
        padded = token.upper() + "=" * (-len(token) % 8)
        raw = base64.b32decode(padded)
    except (ValueError, TypeError):
        raise BadToken(f"{token!r} is not a bounce token") from None
    if len(raw) != 14:
        raise BadToken(f"{token!r} is not a bounce token")
    recipient_id = int.from_bytes(raw[:8], "big")
    if not hmac.compare_digest(raw[8:], _verp_mac(recipient_id)):
        raise BadToken(f"{token!r} has a bad signature")
    return recipient_id


# Bounce probes: list-bounces+probe-TOKEN@domain names one BounceProbe row,
# with its own MAC domain so a copy's token can never pass for a probe's.
PROBE_PREFIX = "probe-"


def _probe_mac(probe_id: int) -> bytes:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, b"probe:%d" % probe_id, hashlib.sha256).digest()[:6]


def probe_token(probe_id: int) -> str:
    raw = probe_id.to_bytes(8, "big") + _probe_mac(probe_id)
    return PROBE_PREFIX + base64.b32encode(raw).decode().rstrip("=").lower()


def read_probe_token(token: str) -> int:
    if not token.lower().startswith(PROBE_PREFIX):
        raise BadToken(f"{token!r} is not a probe token")
    body = token[len(PROBE_PREFIX) :]
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (ValueError, TypeError):
        raise BadToken(f"{token!r} is not a probe token") from None
    if len(raw) != 14:
        raise BadToken(f"{token!r} is not a probe token")
    probe_id = int.from_bytes(raw[:8], "big")
    if not hmac.compare_digest(raw[8:], _probe_mac(probe_id)):
        raise BadToken(f"{token!r} has a bad signature")
    return probe_id
