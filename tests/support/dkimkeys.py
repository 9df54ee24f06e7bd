"""Real DKIM signatures for the tests: an RSA key made per run, its DNS record, dkimpy to sign."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.dns import TestDNS

SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


@dataclass(frozen=True)
class Key:
    private_pem: bytes
    public_b64: str

    def record(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_b64}"


@cache
def key() -> Key:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Key(pem, base64.b64encode(der).decode("ascii"))


def publish(dns: TestDNS, domain: str, selector: str = "sel") -> None:
    """Put the test key in DNS at SELECTOR._domainkey.DOMAIN."""
    dns.txt(f"{selector}._domainkey.{domain}", key().record())


def sign(message: bytes, domain: str, selector: str = "sel") -> bytes:
    """The message with a DKIM-Signature by DOMAIN on top (CRLF line endings)."""
    data = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signature = dkim.sign(
        data,
        selector.encode(),
        domain.encode(),
        key().private_pem,
        include_headers=SIGNED_HEADERS,
        linesep=b"\r\n",
    )
    return signature + data
