"""Benchmark of the owners' web interface on a 100,000-member list.

    .venv/bin/python bench/web.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/web.py --backends sqlite --members 20000
    BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/lk_bench .venv/bin/python bench/web.py

Each backend runs in fresh processes: one seeds the database, a second one is
"the web process" that serves the pages (through Django's test client: every
middleware, view, query and template, no HTTP socket) and imports a
100,000-row CSV through the bulk-add pages; its peak RSS is reported. Times
are printed with ratios against a trivial page measured in the same run.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pages import child, setup_django, timed  # noqa: E402  (bench/pages.py)


def seed(members: int) -> None:
    setup_django()
    from django.core.management import call_command

    from listkeeper.lib.addresses import Address
    from listkeeper.lists import services

    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    big = services.create_list("big", "lists.example.org", actor="bench")
    services.bulk_subscribe(
        big,
        (Address(f"user{i:06d}@example{i % 97}.org", f"User Number {i}") for i in range(members)),
        actor="bench",
        batch_size=5000,
    )
    # Members on other lists too, so the big list is not the whole table.
    other = services.create_list("other", "lists.example.org", actor="bench")
    services.bulk_subscribe(
        other,
        (Address(f"other{i:06d}@example.net", "") for i in range(members // 5)),
        actor="bench",
        batch_size=5000,
    )
    services.subscribe(big, "owner@example.org", actor="bench", role="owner")
    seed_s = time.perf_counter() - t
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does within a minute of a bulk load: statistics for the
        # planner and the visibility map that index-only scans need.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(json.dumps({"seed_s": seed_s}))


def web(members: int, rows: int, n: int) -> None:
    setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.test.utils import setup_test_environment

    from listkeeper.lists.models import MailingList, Member
    from listkeeper.web.models import BulkImport

    setup_test_environment()  # ALLOWED_HOSTS for the test client
    settings.BULK_IMPORT_THREADS = False  # time the work itself, inline
    User = get_user_model()
    user = User.objects.filter(username="owner@example.org").first() or User(
        username="owner@example.org", email="owner@example.org"
    )
    user.set_unusable_password()
    user.save()
    client = Client()
    client.force_login(user)  # an owner of the list, not a superuser: the normal permission path
    big = MailingList.objects.get(local_part="big")
    pages = max(1, -(-members // 50))
    middle = Member.objects.get(key=f"user{members // 2:06d}@example{(members // 2) % 97}.org")
    urls = {
        "baseline: sign-in page": ("/accounts/login/", Client()),
        "members, first page": (f"/lists/{big.id}/", client),
        "members, middle page": (f"/lists/{big.id}/?page={pages // 2}", client),
        "members, last page": (f"/lists/{big.id}/?page={pages}", client),
        "members, middle page, newest first": (
            f"/lists/{big.id}/?sort=-joined&page={pages // 2}",
            client,
        ),
        "search (substring)": (f"/lists/{big.id}/?q=user0{members // 3:05d}"[:-1], client),
        "search (no match)": (f"/lists/{big.id}/?q=nobody-here", client),
        "member page": (f"/members/{middle.id}/", client),
        "dashboard": ("/", client),
    }
    results = {name: timed(c, url, n) for name, (url, c) in urls.items()}
    rss_pages = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

    lines = ["email,name"]
    for i in range(rows):
        if i % 1000 == 999:
            lines.append(f"broken-{i},Nobody")
        elif i % 1000 == 998:
            lines.append(f"user{i:06d}@example{i % 97}.org,Already")  # on the list
        else:
            lines.append(f"new{i:06d}@example.com,New Person {i}")
    data = ("\n".join(lines) + "\n").encode()
    t = time.perf_counter()
    response = client.post(
        "/bulk/", {"lists": [big.id], "file": SimpleUploadedFile("big.csv", data, "text/csv")}
    )
    preview_s = time.perf_counter() - t
    job = BulkImport.objects.get(id=int(response["Location"].strip("/").split("/")[-1]))
    assert job.state == "preview", (job.state, job.error)
    t = time.perf_counter()
    client.post(f"/bulk/{job.id}/commit/")
    commit_s = time.perf_counter() - t
    job.refresh_from_db()
    assert job.state == "done", job.state
    print(
        json.dumps(
            {
                "pages": results,
                "rss_pages_mb": rss_pages,
                "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "import": {
                    "rows": rows,
                    "valid": job.valid,
                    "invalid": job.invalid,
                    "preview_s": preview_s,
                    "commit_s": commit_s,
                },
            }
        )
    )


def run_backend(name: str, url: str | None, members: int, rows: int, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix=f"lk-bench-{name}-") as tmp:
        env = {**os.environ, "LISTKEEPER_DATA_DIR": tmp, "LOG_LEVEL": "WARNING"}
        if url:
            env["DATABASE_URL"] = url
            dbname = url.rsplit("/", 1)[1]
            base = url.rsplit("/", 1)[0]
            subprocess.run(
                ["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", dbname], check=True
            )
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", dbname], check=True)
        else:
            env.pop("DATABASE_URL", None)
        seeded = child(__file__, "seed", env, str(members))
        got = child(__file__, "web", env, str(members), str(rows), str(n))
        if url:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", dbname], check=True)
            del base
    pages = got["pages"]
    base_p50 = pages["baseline: sign-in page"]["p50"]
    print(
        f"\n== {name}: {members:,} members on one list (seeded in {seeded['seed_s']:.1f} s), {n} requests each"
    )
    print(f"{'page':36} {'p50 ms':>8} {'p95 ms':>8} {'p50 / baseline':>15}")
    for page, t in pages.items():
        print(f"{page:36} {t['p50']:8.1f} {t['p95']:8.1f} {t['p50'] / base_p50:14.1f}x")
    imp = got["import"]
    total = imp["preview_s"] + imp["commit_s"]
    print(
        f"CSV import of {imp['rows']:,} rows ({imp['valid']:,} valid, {imp['invalid']:,} invalid): "
        f"check {imp['preview_s']:.1f} s + add {imp['commit_s']:.1f} s = {total:.1f} s "
        f"({imp['rows'] / total:,.0f} rows/s; {total * 1000 / base_p50:,.0f}x the baseline page)"
    )
    print(
        f"peak RSS of the web process: {got['rss_pages_mb']} MB serving pages, {got['rss_peak_mb']} MB after the import"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the imported CSV")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per page")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--web", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed is not None:
        return seed(args.seed)
    if args.web is not None:
        return web(*args.web)
    pg = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/lk_web_bench")
    for backend in args.backends.split(","):
        run_backend(
            backend, pg if backend == "postgres" else None, args.members, args.rows, args.requests
        )


if __name__ == "__main__":
    main()
