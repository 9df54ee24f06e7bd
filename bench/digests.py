#!/usr/bin/env python3
"""Digest benchmark: one issue of 50 posts to 10,000 digest members through the
real Postfix, against raw Postfix, measured the way bench/fanout.py measures a post.

Run as root (Postfix's master needs it) from the repository root:

    .venv/bin/python bench/digests.py                       # 50 posts, 10,000 members
    .venv/bin/python bench/digests.py --members 2000 --posts 20
    .venv/bin/python bench/digests.py --database-url postgres://postgres@127.0.0.1/lk_bench

See bench/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
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

import fanout  # noqa: E402  (bench/fanout.py: the same set-up and helpers)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--members", type=int, default=10_000)
    p.add_argument("--posts", type=int, default=50)
    p.add_argument(
        "--connections", type=int, default=4, help="WORKER_CONNECTIONS and smtp-source sessions"
    )
    p.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p.parse_args()


def raw_postfix(
    args: argparse.Namespace, tmp: Path, sample: bytes, reinject: tuple, sink_port: int
) -> float:
    """Recipients/s of smtp-source -> Postfix -> smtp-sink, one message per member."""
    n = args.members
    sample_file = tmp / "sample.eml"
    sample_file.write_bytes(sample.replace(b"\r\n", b"\n"))
    sink = fanout.smtp_sink(sink_port, n)
    started = time.monotonic()
    subprocess.run(
        [
            "smtp-source", "-d", "-s", str(args.connections), "-m", str(n), "-r", "1", "-N",
            "-f", f"bench-bounces@{fanout.DOMAIN}", "-t", "member@example.net",
            "-F", str(sample_file), f"{reinject[0]}:{reinject[1]}",
        ],
        check=True,
    )  # fmt: skip
    sink.wait()
    return n / (time.monotonic() - started)


def main() -> None:
    args = parse_args()
    args.large = False
    if os.geteuid() != 0:
        raise SystemExit("run as root: Postfix's master must start as root")
    for tool in ("postfix", "smtp-sink", "smtp-source"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install postfix")
    tmp = Path(tempfile.mkdtemp(prefix="listkeeper-bench-digest-"))
    tmp.chmod(0o755)
    env = fanout.configure(args, tmp)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from listkeeper.delivery import digests, personalise
    from listkeeper.delivery.models import Delivery, DigestIssue, WorkerHeartbeat
    from listkeeper.lib.addresses import parse
    from listkeeper.lists import services
    from listkeeper.lists.models import Subscription
    from listkeeper.mail.process import handle_post
    from listkeeper.postfix.instance import PostfixInstance
    from listkeeper.postfix.render import Options

    call_command("migrate", verbosity=0)
    n = args.members
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[1]
    print(f"Setting up a list of {n:,} digest members and {args.posts} posts in {engine} ...")
    ml = services.create_list(
        "bench", fanout.DOMAIN, actor="bench", posting_policy="open", display_name="Bench"
    )
    services.bulk_subscribe(ml, (parse(f"member{i}@example.net") for i in range(n)), actor="bench")
    Subscription.objects.filter(mailing_list=ml).update(delivery="digest")
    for i in range(args.posts):
        handle_post(ml, fanout.make_post(f"Post {i + 1} of the day"), "poster@example.com")

    postfix = PostfixInstance(tmp / "postfix", Options())
    worker = None
    try:
        postfix.start()
        sink_port = settings.RELAY_HOST[1]
        reinject = settings.REINJECT_HOST

        # One member's copy, to size the raw Postfix messages: the issue as it
        # will be built (not saved), personalised as the worker will.
        preview = digests.Built.of(ml, DigestIssue(volume=1, number=1), digests.pending(ml))
        prepared = personalise.prepare(preview.mime, ml, personalised=True)
        sample = personalise.copy_for(prepared, 1)
        per_copy = timed_copies(prepared, 2000)

        # 1. Raw Postfix, the same number of messages of one member's digest's size.
        raw_rate = raw_postfix(args, tmp, sample, reinject, sink_port)
        print(
            f"raw Postfix (smtp-source -> Postfix -> smtp-sink): {raw_rate:8.1f} recipients/s"
            f"  ({fanout.load()})",
            flush=True,
        )

        # 2. Listkeeper: the worker is running and idle; the issue is cut (both
        # forms built once, one ledger row per member) and sent like a post.
        sink = fanout.smtp_sink(sink_port, n)
        worker = fanout.start_command(env, tmp / "worker.log", "worker")
        deadline = time.monotonic() + 60
        while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.perf_counter()
        issue = digests.cut(ml, actor="bench")
        cut_seconds = time.perf_counter() - started
        assert issue is not None and issue.recipients == n, issue
        delivery = Delivery.objects.get(digest=issue, digest_mode="digest")
        started = time.monotonic()
        while sink.poll() is None:
            if worker.poll() is not None:
                raise SystemExit(f"the worker died; see {tmp / 'worker.log'}")
            time.sleep(0.01)
        ours = n / (time.monotonic() - started)
        load = os.getloadavg()
        deadline = time.monotonic() + 10
        while delivery.state != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
            delivery.refresh_from_db()
        print(
            f"Listkeeper digest (issue cut -> sink has all):     {ours:8.1f} recipients/s"
            f"  ({fanout.load()})"
        )
        print(f"ratio:                                            {ours / raw_rate:8.2f}")
        print(
            f"issue: {issue.posts} posts, MIME digest {len(sample) / 1024:.1f} KiB per copy; "
            f"cut (build both forms once + {n:,} ledger rows) {cut_seconds * 1000:.0f} ms; "
            f"per-member copy {per_copy * 1e6:.1f} us"
        )
        print(
            f"ledger: {delivery.handed_off}/{delivery.total} handed off, {delivery.failed} failed"
        )
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        assert DigestIssue.objects.filter(mailing_list=ml).count() == 1
    finally:
        if worker is not None:
            fanout.stop(worker)
        postfix.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def timed_copies(prepared: object, count: int) -> float:
    """Seconds per member's copy (footer URL and headers only), over `count` copies."""
    from listkeeper.delivery import personalise

    started = time.perf_counter()
    for member_id in range(count):
        personalise.copy_for(prepared, member_id, stuffed=True)  # type: ignore[arg-type]
    return (time.perf_counter() - started) / count


if __name__ == "__main__":
    main()
