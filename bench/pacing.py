#!/usr/bin/env python3
"""Pacing where SES counts: a paced fan-out through the real Postfix to a strict SES stand-in.

Run as root (Postfix's master needs it) from the repository root:

    .venv/bin/python bench/pacing.py                          # 500 copies at 20/s, each variant
    .venv/bin/python bench/pacing.py --variants 0.99:20,0.96:2:nogate --members 1000 --rate 50

Each variant is HEADROOM:CONCURRENCY[:nogate]: the worker paces at HEADROOM x
the rate (SES_RATE_HEADROOM), Postfix opens at most CONCURRENCY connections to
the relay (RELAY_CONCURRENCY), and the hand-off policy's relay gate caps what
reaches SES (docs/postfix.md, "The relay gate") unless the variant says
`nogate` (then the worker's pacing alone, as before the gate). The stand-in (tests/sesstub.py) relays over
STARTTLS + AUTH like SES and answers 454 whenever a copy would put more than
the rate into any sliding second. Printed per variant: copies accepted, 454s,
the rate SES saw, its busiest second, and the load average. See bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fanout import (  # noqa: E402
    DOMAIN,
    configure,
    lmtp_post,
    make_post,
    start_command,
    stop,
    wait_listening,
)


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--members", type=int, default=500)
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--variants", default="0.97:20,0.97:20:nogate")
    p.add_argument("--workers", type=int, default=1, help="workers sharing the rate")
    p.add_argument("--database-url", default="")
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    args.skip_paced = True
    return args


def probed_worker() -> None:
    """`listkeeper worker`, noting when each recipient is handed to Postfix (PROBE_FILE).

    CLOCK_MONOTONIC is one clock for every process on the machine, so these
    times compare with the stand-in's arrival times.
    """
    from listkeeper.delivery import smtp

    out = open(os.environ["PROBE_FILE"], "a", buffering=1)
    original = smtp.Connection.send_many

    async def send_many(self, transactions, done):  # type: ignore[no-untyped-def]
        now = time.monotonic()
        for txn in transactions:
            for rcpt in txn.recipients:
                out.write(f"{now} {rcpt}\n")
        await original(self, transactions, done)

    smtp.Connection.send_many = send_many  # type: ignore[method-assign]
    from listkeeper.cli import main as cli_main

    sys.argv = ["listkeeper", *sys.argv[2:]]
    cli_main()


def delays(probe: Path, arrivals: list[tuple[float, str]]) -> str:
    handed = {}
    for line in probe.read_text().splitlines():
        t, rcpt = line.split()
        handed.setdefault(rcpt, float(t))
    d = sorted(t - handed[r] for t, r in arrivals if r in handed)
    if not d:
        return "no delays"
    from tests.sesstub import busiest_window

    pct = lambda q: d[min(len(d) - 1, int(q * len(d)))] * 1000  # noqa: E731
    return (
        f"hand-off busiest second {busiest_window(handed.values())}; Postfix delay ms "
        f"min {d[0] * 1000:.0f} median {pct(0.5):.0f} p95 {pct(0.95):.0f} max {d[-1] * 1000:.0f}"
    )


def ramp(ses) -> str:  # type: ignore[no-untyped-def]
    """Arrivals in each of the first four seconds, then the steady rate's second."""
    seconds = ses.per_second().split()
    return " ".join(seconds[:4]) + (f" ... {seconds[10]}" if len(seconds) > 10 else "")


def main() -> None:
    if sys.argv[1:2] == ["--probed-worker"]:
        probed_worker()
        return
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: Postfix's master must start as root")
    tmp = Path(tempfile.mkdtemp(prefix="listkeeper-pacing-"))
    tmp.chmod(0o755)
    env = configure(args, tmp)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from listkeeper.lib.addresses import parse
    from listkeeper.lists import services
    from listkeeper.postfix.instance import PostfixInstance
    from listkeeper.postfix.render import Options
    from tests.sesstub import SESStub, TestCA

    call_command("migrate", verbosity=0)
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's per-session chatter
    ca = TestCA(tmp / "ca")
    ca.ca_file.parent.chmod(0o755)
    ca.ca_file.chmod(0o644)
    ses = SESStub(ca=ca, verified_domains={DOMAIN}, port=settings.RELAY_HOST[1])
    ses.max_rate = args.rate
    ses.start()
    lmtpd = None
    postfix = None
    try:
        print(
            f"{args.members} copies at {args.rate:g}/s, {args.workers} worker(s), "
            f"stand-in throttling over {args.rate:g} per sliding second",
            flush=True,
        )
        for n, variant in enumerate(args.variants.split(",")):
            headroom, concurrency = float(variant.split(":")[0]), int(variant.split(":")[1])
            gated = not variant.endswith(":nogate")
            # lmtpd runs the hand-off policy and its gate, at the account's rate or open.
            lmtpd = start_command(
                {
                    **env,
                    "SES_MAX_SEND_RATE": f"{args.rate:g}" if gated else "0",
                    "LOG_LEVEL": "INFO",  # the gate's figures, logged when it stops
                },
                tmp / f"lmtpd{n}.log",
                "lmtpd",
            )
            wait_listening(settings.LMTP_LISTEN[1])
            options = Options(
                relay_status_filter=gated,
                relay=("localhost", ses.port),
                relay_tls="secure",
                relay_ca_file=str(ca.ca_file),
                ses_user=ses.username,
                ses_pass=ses.password,
                relay_concurrency=concurrency,
            )
            postfix = PostfixInstance(tmp / f"postfix{n}", options)
            postfix.start()
            name = f"paced{n}"
            ml = services.create_list(name, DOMAIN, actor="bench", posting_policy="open")
            services.bulk_subscribe(
                ml, (parse(f"{name}.{i}@example.net") for i in range(args.members)), actor="bench"
            )
            ses.clear()
            probe = tmp / f"probe-{name}.txt"
            workers = [
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--probed-worker",
                        "worker",
                        "--name",
                        f"{name}-{w}",
                    ],
                    env={
                        **os.environ,
                        **env,
                        "PYTHONPATH": str(ROOT),
                        "SES_MAX_SEND_RATE": f"{args.rate:g}",
                        "SES_RATE_HEADROOM": f"{headroom:g}",
                        "WORKER_STALE_AFTER": "5",
                        "PROBE_FILE": str(probe),
                    },
                    stdout=open(tmp / f"worker-{name}-{w}.log", "ab"),
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )
                for w in range(args.workers)
            ]
            time.sleep(3.0)  # heartbeats: each worker knows how many share the rate
            load_before = load()
            lmtp_post(settings.LMTP_LISTEN[1], ml.address, make_post("Paced post"))
            deadline = time.monotonic() + args.members / args.rate * 2 + 60
            while len(ses.arrivals) + ses.throttled < args.members and time.monotonic() < deadline:
                time.sleep(0.1)
            for w in workers:
                stop(w)
            postfix.stop()
            stop(lmtpd)
            lmtpd = None
            gate_log = [
                line.split("(", 1)[1].rstrip(")\n")
                for line in open(tmp / f"lmtpd{n}.log", errors="replace")
                if "hand-off policy stopped" in line
            ]
            rate = ses.arrival_rate()
            print(
                f"headroom {headroom:.2f}, relay concurrency {concurrency:2d}, "
                f"{'gate' if gated else 'no gate'}: "
                f"{len(ses.arrivals)} accepted, {ses.throttled} x 454, "
                f"{rate:6.2f}/s at SES ({rate / args.rate * 100:5.1f}% of the rate), "
                f"busiest second {ses.busiest_window()}  ({load_before}, after {load()})\n"
                f"    {delays(probe, ses.arrivals)}\n"
                f"    per second at SES (the ramp after the pause): {ramp(ses)}"
                + (f"\n    gate: {gate_log[-1]}" if gated and gate_log else ""),
                flush=True,
            )
    finally:
        if lmtpd is not None:
            stop(lmtpd)
        if postfix is not None:
            postfix.stop()
        ses.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
