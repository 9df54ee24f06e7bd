from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of the kind the suite runs on (SQLite or PostgreSQL)."""
    base = postgres_url()
    if base is None:
        yield f"sqlite:///{tmp_path / 'entrypoint.sqlite3'}"
        return
    import psycopg

    name = f"lk_ep_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def app_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment the app containers get (compose.yaml), pointed at a temp root."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "secret_key").write_text(secrets.token_hex(32) + "\n")
    return {
        "PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "LISTKEEPER_DATA_DIR": str(tmp_path / "data"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "SECRET_KEY_FILE": str(secrets_dir / "secret_key"),
        "DATABASE_URL": database_url,
        "LISTKEEPER_DOMAIN": "lists.example.org",
        "SITE_URL": "https://lists.example.org",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",  # as in the image
    }


class Service:
    """A long-running entrypoint role started the way Docker would start it."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.out = open(log, "wb")
        self.proc = subprocess.Popen(
            args, env=env, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        if not self.out.closed:
            self.out.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()
        return self.proc.returncode


def wait_for_http(url: str, service: Service, within: float = 60.0) -> tuple[int, bytes]:
    """Poll until the server answers at all; return its status and body."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            if service.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{url} never answered; output:\n{service.output()}") from None
            time.sleep(0.2)
