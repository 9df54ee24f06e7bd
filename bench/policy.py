#!/usr/bin/env python3
"""The hand-off policy service alone: its cost per copy, against a policy that marks nothing.

    .venv/bin/python bench/policy.py                       # SQLite, 20,000 copies, 4 and 16 connections
    .venv/bin/python bench/policy.py --database-url postgres://postgres@127.0.0.1:5432/lk_policy_bench

A fresh database holds one delivery whose ledger rows are all claimed, as a
worker's would be. The service (`listkeeper.delivery.handoff.serve`) runs in a
process of its own; this process plays Postfix's reinjection smtpds: one
connection per smtpd, each sending an END-OF-MESSAGE request (the attributes
Postfix 3.7 sends) for one copy and waiting for the answer before the next,
as an smtpd does. The baseline, measured in the same run with the same
client: a policy service that parses each request the same way and answers
DUNNO at once, without the database (the floor of any policy written in
Python). Printed: copies per second and the service's CPU per 1,000 copies,
each with its ratio to the baseline, and the load average. Afterwards every
row must be marked exactly once and every answer be DUNNO.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOMAIN = "lists.example.org"
# What Postfix 3.7's smtpd sends at the end of a copy's data (SMTPD_POLICY_README).
REQUEST = (
    "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nprotocol_name=ESMTP\n"
    "client_address=127.0.0.1\nclient_name=localhost\nclient_port=41234\n"
    "reverse_client_name=localhost\nserver_address=127.0.0.1\nserver_port=10025\n"
    "helo_name=worker.listkeeper\nsender={sender}\nrecipient={recipient}\n"
    "recipient_count=1\nqueue_id={queue_id}\ninstance=1a2b.6763b1f2.8f0e3.0\nsize=4321\n"
    "etrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\n"
    "ccert_subject=\nccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n"
    "encryption_protocol=\nencryption_cipher=\nencryption_keysize=0\n"
    "policy_context=\ncompatibility_level=3.6\nmail_version=3.7.11\n\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def setup_django(data_dir: str, database_url: str) -> None:
    os.environ["LISTKEEPER_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "listkeeper.settings")
    os.environ["SES_MAX_SEND_RATE"] = "0"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()


def seed(copies: int) -> list[tuple[int, str]]:
    """One delivery, `copies` claimed rows; returns (row id, recipient)."""
    from listkeeper.delivery.models import Delivery, Recipient, RecipientState

    delivery = Delivery.objects.create(
        message=b"Subject: x\r\n\r\nx\r\n", envelope_from=f"bench-bounces@{DOMAIN}"
    )
    Recipient.objects.bulk_create(
        (
            Recipient(
                delivery=delivery,
                email=f"m{i}@example.net",
                state=RecipientState.CLAIMED,
                claimed_by="bench",
            )
            for i in range(copies)
        ),
        batch_size=5000,
    )
    return list(delivery.recipients.order_by("id").values_list("id", "email"))


def serve_marks(port: int) -> None:
    """The real service (run in a child process)."""
    from listkeeper.delivery import handoff

    async def main() -> None:
        await handoff.serve("127.0.0.1", port, asyncio.Event())

    asyncio.run(main())


def serve_null(port: int) -> None:
    """The baseline: read each request, answer DUNNO."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                block = await reader.readuntil(b"\n\n")
                request = {}
                for line in block.decode("utf-8", "replace").splitlines():
                    name, _, value = line.partition("=")
                    if name:
                        request[name] = value
                writer.write(b"action=DUNNO\n\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def play_postfix(port: int, copies: list[tuple[int, str]], connections: int) -> list[str]:
    from listkeeper.lib import tokens

    requests = [
        REQUEST.format(
            sender=f"bench-bounces+{tokens.verp_token(rid)}@{DOMAIN}",
            recipient=email,
            queue_id=f"4Z{rid:010X}",  # a long queue id's length
        ).encode()
        for rid, email in copies
    ]
    answers: list[str] = []

    async def smtpd(share: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for request in share:
            writer.write(request)
            answers.append((await reader.readuntil(b"\n\n")).decode().strip())
        writer.close()

    await asyncio.gather(*(smtpd(requests[i::connections]) for i in range(connections)))
    return answers


def run(
    kind: str, port: int, copies: list[tuple[int, str]], connections: int, env: dict
) -> tuple[float, float, list[str]]:
    child = subprocess.Popen(
        [sys.executable, __file__, f"--serve-{kind}", str(port)], env=env, cwd=ROOT
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        cpu0 = cpu_seconds(child.pid)
        t0 = time.perf_counter()
        answers = asyncio.run(play_postfix(port, copies, connections))
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(child.pid) - cpu0
    finally:
        child.terminate()
        child.wait(10)
    return wall, cpu, answers


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--copies", type=int, default=20_000)
    p.add_argument("--connections", default="4,16", help="comma-separated: smtpds at once")
    p.add_argument("--database-url", default="")
    p.add_argument("--serve-marks", type=int, help=argparse.SUPPRESS)
    p.add_argument("--serve-null", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_null:
        serve_null(args.serve_null)
        return
    if args.serve_marks:
        import django

        django.setup()
        serve_marks(args.serve_marks)
        return

    with tempfile.TemporaryDirectory(prefix="listkeeper-policy-bench-") as data_dir:
        setup_django(data_dir, args.database_url)
        from django.core.management import call_command

        from listkeeper.delivery.models import Recipient

        call_command("migrate", verbosity=0, interactive=False)
        env = dict(os.environ)
        for n in (int(c) for c in args.connections.split(",")):
            Recipient.objects.update(sent_at=None)
            copies = (
                seed(args.copies)
                if not Recipient.objects.exists()
                else list(Recipient.objects.order_by("id").values_list("id", "email"))
            )
            base_wall, base_cpu, _ = run("null", free_port(), copies, n, env)
            print(
                f"{n:>2} connections, baseline (parse, answer DUNNO): "
                f"{len(copies) / base_wall:8.0f} copies/s, CPU {base_cpu / len(copies) * 1000:.3f} s per 1,000  ({load()})"
            )
            wall, cpu, answers = run("marks", free_port(), copies, n, env)
            marked = Recipient.objects.filter(sent_at__isnull=False).count()
            wrong = sum(1 for a in answers if a != "action=DUNNO")
            print(
                f"{n:>2} connections, hand-off policy:            "
                f"{len(copies) / wall:8.0f} copies/s, CPU {cpu / len(copies) * 1000:.3f} s per 1,000  ({load()})"
            )
            print(
                f"   ratio to the baseline: rate {base_wall / wall:.2f}, CPU {cpu / base_cpu:.1f}x; "
                f"{marked}/{len(copies)} rows marked, {wrong} answers not DUNNO"
            )
            if marked != len(copies) or wrong:
                sys.exit("FAILED: every copy must be marked and answered DUNNO")


if __name__ == "__main__":
    main()
