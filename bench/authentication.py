"""What checking a post's author costs: DKIM, SPF and DMARC against a local DNS server.

    .venv/bin/python bench/authentication.py [--messages 300] [--size 26000]

A DNS server (tests/support/dns.py) runs on 127.0.0.1 and serves a p=reject
DMARC record, an SPF record and a DKIM key; the message is signed with a 2048-bit
RSA key. The baseline is what every post costs anyway: splitting it into header
block and body and reading its From (mail.context.parse_message's own work).
Figures: milliseconds per message and the ratio to the baseline, with the load
average. Real resolvers add their network round trips (one DMARC lookup, one
DKIM key per signature, SPF's lookups); DNS_TIMEOUT bounds each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "listkeeper.settings")

import django  # noqa: E402

django.setup()

from django.test import override_settings  # noqa: E402

from listkeeper.mail import headers as h  # noqa: E402
from listkeeper.mail.authentication import authenticate  # noqa: E402
from listkeeper.mail.context import read_author  # noqa: E402
from tests.support import dkimkeys  # noqa: E402
from tests.support.dns import TestDNS  # noqa: E402

RECEIVED = (
    b"Received: from mail.example.com (mail.example.com [192.0.2.10])\r\n"
    b"\tby lists.example.org (Postfix) with ESMTP id 4Q1abc2XyZz9sT7\r\n"
    b"\tfor <community@lists.example.org>; Tue, 14 May 2024 09:12:33 +0000 (UTC)\r\n"
)


def message(size: int) -> bytes:
    head = (
        b"From: Alice Example <alice@example.com>\r\nTo: community@lists.example.org\r\n"
        b"Subject: Meeting\r\nDate: Tue, 14 May 2024 11:12:30 +0200\r\n"
        b"Message-ID: <bench@example.com>\r\n\r\n"
    )
    line = b"The meeting moves to Thursday, same room, same time.\r\n"
    return head + line * max(1, size // len(line))


def per_message(fn: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--size", type=int, default=26000, help="body bytes per message")
    args = parser.parse_args()

    dns = TestDNS().start()
    dns.txt("_dmarc.example.com", "v=DMARC1; p=reject")
    dns.txt("example.com", "v=spf1 ip4:192.0.2.10 -all")
    dkimkeys.publish(dns, "example.com")
    plain = RECEIVED + message(args.size)
    signed = RECEIVED + dkimkeys.sign(message(args.size), "example.com")

    def baseline() -> object:
        block, _ = h.split(h.canonical(signed))
        return read_author(block)

    try:
        with override_settings(DNS_NAMESERVERS=[dns.address]):
            checks = {
                "unsigned (SPF + DMARC)": lambda: authenticate(plain, "alice@example.com"),
                "DKIM-signed (DKIM + SPF + DMARC)": lambda: authenticate(
                    signed, "alice@example.com"
                ),
            }
            verdict = authenticate(signed, "alice@example.com")
            assert verdict.dmarc == "pass", verdict.summary()
            base = per_message(baseline, args.messages)
            print(f"{len(signed)} bytes a message, {args.messages} messages each")
            print(f"baseline (split + read From): {base:.3f} ms/message")
            for label, fn in checks.items():
                ms = per_message(fn, args.messages)
                print(f"{label}: {ms:.2f} ms/message, {ms / base:.0f}x the baseline")
    finally:
        dns.stop()
    one, five, fifteen = os.getloadavg()
    print(f"load average: {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
