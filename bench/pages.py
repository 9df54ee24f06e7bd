"""Timing pages through Django's test client, shared by the web benchmarks.

Every middleware, view, query and template runs; no HTTP socket. Each figure
carries the 1-minute load average at the moment it was taken.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "listkeeper.settings")
    import django

    django.setup()


def timed_many(client, urls: list[str]) -> dict[str, float]:
    """p50 and p95 in milliseconds over one request to each URL (after three warm-ups)."""
    for url in urls[:3]:
        client.get(url)  # warm caches and the connection
    times = []
    for url in urls:
        t = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[int(0.95 * (len(times) - 1))],
        "load": os.getloadavg()[0],
    }


def timed(client, url: str, n: int) -> dict[str, float]:
    """The same page n times."""
    return timed_many(client, [url] * n)


def child(script: str, mode: str, env: dict[str, str], *args: str) -> dict:
    """Run `script --MODE ARGS` in a fresh process; its last output line is JSON."""
    out = subprocess.run(
        [sys.executable, script, f"--{mode}", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{mode} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])
