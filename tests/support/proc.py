"""Run `listkeeper` commands as real processes against the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        LISTKEEPER_DOMAIN=settings.LISTKEEPER_DOMAIN,
        SITE_URL=settings.SITE_URL,
        LISTKEEPER_DATA_DIR=str(settings.DATA_DIR),
        PYTHONUNBUFFERED="1",
        # Where the private Postfix of the tests asks the hand-off policy (lmtpd).
        HANDOFF_POLICY="{}:{}".format(*settings.HANDOFF_POLICY),
    )
    env.update(extra)
    return env


def start(*args: str, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`listkeeper ARGS...` in the background, output to `log`."""
    out = open(log, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "listkeeper.cli", *args],
        env=command_env(**env),
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def worker(tmp_path: Path, name: str, rate: float, **env: str) -> subprocess.Popen[bytes]:
    """`listkeeper worker --name NAME` handing copies to the test Postfix's reinjection
    listener at `rate` a second (0: unpaced), logging to tmp_path/NAME.log."""
    host, port = settings.REINJECT_HOST
    return start(
        "worker",
        "--name",
        name,
        log=tmp_path / f"{name}.log",
        REINJECT_HOST=f"{host}:{port}",
        SES_MAX_SEND_RATE=str(rate),
        **env,
    )
