"""Verifying Amazon SNS messages (HTTP(S) subscriptions).

Anyone can POST to /hooks/ses/, so nothing is believed until the signature
checks out against a certificate fetched over https from an SNS host, for a
topic we subscribed to, recently signed. See docs: "Verifying the signatures
of Amazon SNS messages".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.utils import timezone

# sns.eu-west-2.amazonaws.com, and the China partition's amazonaws.com.cn.
SNS_HOST_RE = re.compile(r"^sns\.[a-z]{2}(?:-gov)?-[a-z]+-\d\.amazonaws\.com(?:\.cn)?$")

# SNS retries a failed delivery with the original Timestamp and signature; an
# hour covers its default retry policy, and anything older is treated as replayed.
MAX_AGE = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=5)
MAX_BODY = 1024 * 1024
MAX_CERTIFICATE = 64 * 1024

SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
OPTIONAL_FIELDS = {"Subject"}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


class Rejected(Exception):
    """A message we will not act on; `reason` says why (never contains secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfirmationFailed(Exception):
    """SubscribeURL could not be visited; SNS will not send notifications until it is."""


def _urlopen(url: str, limit: int = MAX_CERTIFICATE) -> bytes:
    # urllib verifies the server's certificate and host name by default.
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (URL checked by caller)
        return response.read(limit)


# Both are module attributes so tests can serve a test certificate and record
# subscription confirmations without a network.
fetch_certificate: Callable[[str], bytes] = _urlopen
open_url: Callable[[str], bytes] = _urlopen

_certificates: dict[str, x509.Certificate] = {}
_CACHE_LIMIT = 32


def parse(body: bytes) -> dict[str, Any]:
    """The JSON object SNS posts, or Rejected."""
    if len(body) > MAX_BODY:
        raise Rejected(f"body of {len(body)} bytes is larger than an SNS message can be")
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("body is not JSON") from None
    if not isinstance(message, dict):
        raise Rejected("body is not a JSON object")
    return message


def check_sns_url(url: Any, what: str) -> str:
    """Only https URLs on an SNS host: we fetch them, so they must not point anywhere else."""
    if not isinstance(url, str) or not url:
        raise Rejected(f"{what} is missing")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise Rejected(f"{what} is not https")
    if parts.username or parts.password or parts.port not in (None, 443):
        raise Rejected(f"{what} has credentials or an unusual port")
    if not SNS_HOST_RE.match(parts.hostname or ""):
        raise Rejected(f"{what} host {parts.hostname!r} is not an SNS host")
    return url


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = SIGNED_FIELDS[message["Type"]]
    lines = []
    for name in fields:
        if name in OPTIONAL_FIELDS and message.get(name) is None:
            continue
        value = message.get(name)
        if not isinstance(value, str):
            raise Rejected(f"field {name} is missing")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def certificate(url: str) -> x509.Certificate:
    cert = _certificates.get(url)
    if cert is None:
        try:
            pem = fetch_certificate(url)
            cert = x509.load_pem_x509_certificate(pem)
        except Rejected:
            raise
        except Exception as exc:  # network errors, bad PEM: either way unusable
            raise Rejected(
                f"signing certificate could not be loaded ({type(exc).__name__})"
            ) from None
        if len(_certificates) >= _CACHE_LIMIT:
            _certificates.clear()
        _certificates[url] = cert
    return cert


def verify(message: dict[str, Any], *, now: datetime | None = None) -> None:
    """Raise Rejected unless this is a genuine, fresh SNS message for one of our topics."""
    kind = message.get("Type")
    if kind not in SIGNED_FIELDS:
        raise Rejected(f"message type {str(kind)[:40]!r} is not one SNS sends")
    topic = message.get("TopicArn")
    if topic not in settings.SES_SNS_TOPIC_ARNS:
        raise Rejected(f"topic {str(topic)[:200]!r} is not in SES_SNS_TOPIC_ARNS")
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Rejected(
            f"signature version {str(message.get('SignatureVersion'))[:10]!r} is not 1 or 2"
        )
    url = check_sns_url(message.get("SigningCertURL"), "SigningCertURL")
    if kind != "Notification":
        check_sns_url(message.get("SubscribeURL"), "SubscribeURL")
    now = now or timezone.now()
    signed_at = timestamp(message)
    if now - signed_at > MAX_AGE:
        raise Rejected(f"signed at {message['Timestamp']}, too long ago: replayed or stale")
    if signed_at - now > CLOCK_SKEW:
        raise Rejected(f"signed at {message['Timestamp']}, in the future")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("signature is not base64") from None
    text = string_to_sign(message)
    cert = certificate(url)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Rejected("signing certificate is not valid now")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Rejected("signing certificate does not hold an RSA key")
    try:
        key.verify(signature, text, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise Rejected("signature does not match") from None


def timestamp(message: dict[str, Any]) -> datetime:
    raw = message.get("Timestamp")
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(f"timestamp {str(raw)[:40]!r} is not ISO 8601") from None
    if value.tzinfo is None:
        raise Rejected(f"timestamp {str(raw)[:40]!r} has no time zone")
    return value


def confirm_subscription(message: dict[str, Any]) -> None:
    """Visit SubscribeURL (already checked by verify) to start receiving notifications."""
    url = check_sns_url(message.get("SubscribeURL"), "SubscribeURL")
    try:
        open_url(url)
    except Exception as exc:
        raise ConfirmationFailed(f"{type(exc).__name__} visiting the SubscribeURL") from None
