"""Benchmark of the web archive: 100,000 messages in 5,000 threads.

    .venv/bin/python bench/archive.py                          # SQLite and PostgreSQL
    .venv/bin/python bench/archive.py --backends sqlite --messages 20000 --threads 1000
    BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/lk_archive_bench .venv/bin/python bench/archive.py

For each backend a fresh database is filled by importing a generated mbox
(`listkeeper archive import`'s code: parse, thread, index for search) of
N messages in T threads: thread sizes skewed (one thread of exactly 200
messages, many short ones), bodies of 30-250 words from a word list with
quoted text, one message in 30 with an attachment, dates over three years.
The import is then run again (everything already archived: what resuming
after an interruption costs). A second process, "the web process", requests
each page through Django's test client (middleware, visibility checks,
queries, templates) and reports p50/p95; the baseline is the sign-in page,
which touches no database. Finally it times process.handle_post (what the
LMTP server calls for each post) on a 20-member list with the archive off
and on, in the same process, alternating: the difference is what archiving
adds to accepting a post. Load average is printed before and after.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pages import child, setup_django, timed, timed_many  # noqa: E402  (bench/pages.py)

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zen", "dar", "bel", "gor", "pim"]
COMMON = (
    "garden meeting budget release server rota volunteer bicycle library concert "
    "printer invoice harbour festival ferry schedule database kitchen minutes agenda"
).split()


def words(rng: random.Random) -> list[str]:
    out = list(COMMON)
    while len(out) < 3000:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in out:
            out.append(w)
    return out


def thread_sizes(messages: int, threads: int, rng: random.Random) -> list[int]:
    """One thread of exactly 200 (the page we time), the rest skewed, summing to `messages`."""
    rest = messages - 200
    weights = [rng.paretovariate(1.3) for _ in range(threads - 1)]
    total = sum(weights)
    sizes = [max(1, int(rest * w / total)) for w in weights]
    sizes = [min(s, 180) for s in sizes]
    deficit = rest - sum(sizes)  # rounding: spread what is missing (or too much) one by one
    i = 0
    while deficit:
        k = i % len(sizes)
        if deficit > 0 and sizes[k] < 180:
            sizes[k] += 1
            deficit -= 1
        elif deficit < 0 and sizes[k] > 1:
            sizes[k] -= 1
            deficit += 1
        i += 1
    return [200, *sizes]


def generate_mbox(path: Path, messages: int, threads: int) -> dict:
    """The mbox, written as text (EmailMessage costs minutes at 100,000 messages)."""
    rng = random.Random(12)
    vocab = words(rng)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    span = timedelta(days=3 * 365).total_seconds()
    # Threads start across three years; their replies follow within days.
    plan: list[tuple[datetime, int, int]] = []  # (date, thread, position)
    for t, size in enumerate(thread_sizes(messages, threads, rng)):
        began = start + timedelta(seconds=rng.random() * span)
        when = began
        for k in range(size):
            plan.append((when, t, k))
            when += timedelta(minutes=rng.randint(5, 600))
    plan.sort()
    sent: dict[int, list[str]] = {}
    subjects: dict[int, str] = {}
    attached = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for n, (when, t, k) in enumerate(plan):
            author = rng.randint(0, 1999)
            head = [
                f"From person{author}@example.org {when:%a %b %d %H:%M:%S %Y}",
                f"From: Person {author} <person{author}@example{author % 50}.org>",
                "To: big@lists.example.org",
            ]
            if k == 0:
                subjects[t] = " ".join(rng.choice(vocab) for _ in range(rng.randint(2, 6)))
                head.append(f"Subject: {subjects[t].capitalize()}")
            else:
                head.append(f"Subject: Re: {subjects[t].capitalize()}")
                earlier = sent[t]
                parent = earlier[-1] if rng.random() < 0.6 else rng.choice(earlier)
                head.append(f"In-Reply-To: {parent}")
                refs = earlier[:1] + [parent] if parent != earlier[0] else [parent]
                head.append("References: " + " ".join(refs))
            mid = f"<bench.{n}.{t}@example.org>"
            head += [f"Message-ID: {mid}", f"Date: {format_datetime(when)}", "MIME-Version: 1.0"]
            body = []
            if k:
                body += ["> " + " ".join(rng.choice(vocab) for _ in range(12)) for _ in range(3)]
                body.append("")
            for _ in range(rng.randint(3, 20)):
                body.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(6, 14))))
            body += ["", "-- ", f"Person {author}"]
            text = "\n".join(body)
            if n % 30 == 0:  # one in 30 with a 2 kB attachment
                attached += 1
                boundary = f"=-=bench{n}=-="
                data = base64.encodebytes(rng.randbytes(2000)).decode()
                head.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
                text = (
                    f"--{boundary}\nContent-Type: text/plain; charset=utf-8\n\n{text}\n"
                    f"--{boundary}\nContent-Type: application/pdf\n"
                    f'Content-Disposition: attachment; filename="notes-{n}.pdf"\n'
                    f"Content-Transfer-Encoding: base64\n\n{data}--{boundary}--"
                )
            else:
                head.append("Content-Type: text/plain; charset=utf-8")
            sent.setdefault(t, []).append(mid)
            out.write("\n".join(head) + "\n\n" + text + "\n\n")
    return {"size_mb": path.stat().st_size / 1e6, "attachments": attached}


def seed(mbox_path: str) -> None:
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from listkeeper.archive import mbox
    from listkeeper.lists import services

    call_command("migrate", verbosity=0)
    ml = services.create_list("big", "lists.example.org", actor="bench", display_name="Big")
    services.update_list(ml, actor="bench", archive_visibility="public")
    t = time.perf_counter()
    with open(mbox_path, "rb") as stream:
        result = mbox.import_mbox(ml, stream, workers=mbox.default_workers())
    import_s = time.perf_counter() - t
    import_load = os.getloadavg()[0]
    t = time.perf_counter()
    with open(mbox_path, "rb") as stream:
        again = mbox.import_mbox(ml, stream, workers=mbox.default_workers())
    resume_s = time.perf_counter() - t
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(
        json.dumps(
            {
                "imported": result.imported,
                "skipped": len(result.skipped),
                "import_s": import_s,
                "import_load": import_load,
                "again_already": again.already,
                "resume_s": resume_s,
            }
        )
    )


def web(n: int, posts: int) -> None:
    setup_django()
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import setup_test_environment

    from listkeeper.archive.models import ArchivedMessage, Month, Thread
    from listkeeper.archive.views import THREAD_PAGE
    from listkeeper.lists.models import MailingList

    setup_test_environment()
    ml = MailingList.objects.get(local_part="big")
    base = f"/archive/{ml.list_id}/"
    busiest = Month.objects.filter(mailing_list=ml).order_by("-count").first()
    big = (
        Thread.objects.filter(mailing_list=ml, count=200).first()
        or Thread.objects.order_by("-count").first()
    )
    rng = random.Random(5)
    slugs = list(
        ArchivedMessage.objects.filter(mailing_list=ml)
        .order_by("?")
        .values_list("slug", flat=True)[:n]
    )
    in_big = list(
        ArchivedMessage.objects.filter(thread=big).order_by("?").values_list("slug", flat=True)[:n]
    )
    vocab = words(random.Random(12))
    pairs = [f"{rng.choice(COMMON)} {rng.choice(vocab[20:300])}" for _ in range(n)]
    client = Client()
    month_rows = ArchivedMessage.objects.filter(
        mailing_list=ml, date__year=busiest.year, date__month=busiest.month
    ).aggregate(threads=Count("thread", distinct=True))["threads"]
    results = {
        "baseline: sign-in page": timed(client, "/accounts/login/", n),
        "archive index": timed(client, base, n),
        f"month by thread ({busiest.count} msgs, {month_rows} threads)": timed(
            client, f"{base}{busiest.year}/{busiest.month}/", n
        ),
        "month by date (first 200)": timed(
            client, f"{base}{busiest.year}/{busiest.month}/?by=date", n
        ),
        f"thread of {big.count}, page 1 ({THREAD_PAGE} messages)": timed(
            client, f"{base}t/{big.slug}/", n
        ),
        f"thread of {big.count}, page 2": timed(client, f"{base}t/{big.slug}/?page=2", n),
        "message page (random)": timed_many(client, [f"{base}m/{s}/" for s in slugs]),
        f"message page (in the thread of {big.count})": timed_many(
            client, [f"{base}m/{s}/" for s in in_big]
        ),
        "two-word search (random)": timed_many(
            client, [f"{base}?q={p.replace(' ', '+')}" for p in pairs]
        ),
    }
    print(json.dumps({"pages": results, "lmtp": lmtp_cost(posts)}))


def lmtp_cost(posts: int) -> dict[str, float]:
    """process.handle_post with the archive off and on, alternating, in one process."""
    from django.db import transaction

    from listkeeper.lists import services
    from listkeeper.mail import process

    lists = {}
    for visibility in ("off", "public"):
        ml = services.create_list(f"lmtp-{visibility}", "lists.example.org", actor="bench")
        services.update_list(
            ml, actor="bench", archive_visibility=visibility, posting_policy="open"
        )
        for i in range(20):
            services.subscribe(ml, f"m{i}@example.net", actor="bench")
        lists[visibility] = ml
    rng = random.Random(3)
    vocab = words(random.Random(12))
    times: dict[str, list[float]] = {"off": [], "public": []}
    for i in range(posts * 2):
        visibility = "off" if i % 2 == 0 else "public"
        msg = EmailMessage()
        msg["From"] = "Poster <poster@example.org>"
        msg["To"] = lists[visibility].address
        msg["Subject"] = " ".join(rng.choice(vocab) for _ in range(5))
        msg["Message-ID"] = f"<lmtp.{i}@example.org>"
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg.set_content(
            "\n".join(" ".join(rng.choice(vocab) for _ in range(12)) for _ in range(15)) + "\n"
        )
        raw = msg.as_bytes()
        t = time.perf_counter()
        with transaction.atomic():
            process.handle_post(lists[visibility], raw, "poster@example.org")
        times[visibility].append((time.perf_counter() - t) * 1000)
    out = {}
    for visibility, values in times.items():
        values = values[5:]  # warm-up
        values.sort()
        out[f"{visibility}_p50"] = statistics.median(values)
        out[f"{visibility}_mean"] = statistics.fmean(values)
        out[f"{visibility}_p95"] = values[int(0.95 * (len(values) - 1))]
    out["load"] = os.getloadavg()[0]
    return out


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_backend(name: str, url: str | None, mbox_path: Path, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix=f"lk-archive-bench-{name}-") as tmp:
        env = {**os.environ, "LISTKEEPER_DATA_DIR": tmp, "LOG_LEVEL": "WARNING"}
        if url:
            env["DATABASE_URL"] = url
            dbname = url.rsplit("/", 1)[1]
            subprocess.run(
                ["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", dbname], check=True
            )
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", dbname], check=True)
        else:
            env.pop("DATABASE_URL", None)
        print(f"\n== {name}: load average {load()} before")
        seeded = child(__file__, "seed", env, str(mbox_path))
        got = child(__file__, "web", env, str(args.requests), str(args.posts))
        if url:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", dbname], check=True)
    pages = got["pages"]
    base = pages["baseline: sign-in page"]["p50"]
    print(
        f"import of {seeded['imported']:,} messages: {seeded['import_s']:.1f} s "
        f"({seeded['imported'] / seeded['import_s']:,.0f} messages/s, {seeded['skipped']} skipped); "
        f"running it again (resume): {seeded['resume_s']:.1f} s, {seeded['again_already']:,} already archived; "
        f"load {seeded['import_load']:.1f} at the end of the import"
    )
    print(f"{'page':50} {'p50 ms':>8} {'p95 ms':>8} {'p95 / baseline p50':>19} {'load':>6}")
    for page, t in pages.items():
        print(
            f"{page:50} {t['p50']:8.1f} {t['p95']:8.1f} {t['p95'] / base:18.1f}x {t['load']:6.1f}"
        )
    lm = got["lmtp"]
    print(
        f"handle_post (LMTP accept), 20 members: archive off p50 {lm['off_p50']:.1f} ms "
        f"(mean {lm['off_mean']:.1f}), archive on p50 {lm['public_p50']:.1f} ms "
        f"(mean {lm['public_mean']:.1f}): archiving adds {lm['public_p50'] - lm['off_p50']:.1f} ms "
        f"at p50, {lm['public_mean'] - lm['off_mean']:.1f} ms on average "
        f"({lm['public_p50'] / lm['off_p50']:.2f}x); load {lm['load']:.1f}"
    )
    print(f"load average {load()} after")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    parser.add_argument("--posts", type=int, default=100, help="posts per LMTP timing")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--mbox", help="keep the generated mbox here and reuse it if it exists")
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    parser.add_argument("--web", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed is not None:
        return seed(args.seed)
    if args.web is not None:
        return web(*args.web)
    pg = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/lk_archive_bench")
    with tempfile.TemporaryDirectory(prefix="lk-archive-mbox-") as tmp:
        path = Path(args.mbox) if args.mbox else Path(tmp) / "bench.mbox"
        if path.exists():
            print(f"reusing {path} ({path.stat().st_size / 1e6:.0f} MB)")
        else:
            t = time.perf_counter()
            info = generate_mbox(path, args.messages, args.threads)
            print(
                f"generated {args.messages:,} messages in {args.threads:,} threads, "
                f"{info['attachments']:,} with an attachment ({info['size_mb']:.0f} MB mbox) "
                f"in {time.perf_counter() - t:.1f} s"
            )
        for backend in args.backends.split(","):
            run_backend(backend, pg if backend == "postgres" else None, path, args)


if __name__ == "__main__":
    main()
