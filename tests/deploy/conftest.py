from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.deploy import VENV_BIN, postgres_url


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
