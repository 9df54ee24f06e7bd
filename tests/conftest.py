from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.test import override_settings

from listkeeper.lists import services
from tests.support.dns import TestDNS


@pytest.fixture
def community(db):
    return services.create_list(
        "community", "lists.example.org", actor="test", display_name="Community"
    )


def child_database_url() -> str:
    """A DATABASE_URL for the database the tests run on (for child processes)."""
    db = connections["default"].settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def cli(transactional_db) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the `listkeeper` console script against the test database.

    cli("import-aliases", "FILE", env={"X": "y"}) -> CompletedProcess (text).
    Uses transactional_db so that the child process sees committed rows.
    """
    script = Path(sys.executable).with_name("listkeeper")

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        child_env = {**os.environ, "DATABASE_URL": child_database_url(), **(env or {})}
        return subprocess.run(
            [str(script), *args], capture_output=True, text=True, env=child_env, timeout=timeout
        )

    return run


# Real mail servers (the SES stand-in, a private Postfix): see tests/mailfixtures.py.
from tests.mailfixtures import _postfix_instance, _ses_server, postfix, ses, test_ca  # noqa: E402,F401


# A real DNS server for post authentication (tests/support/dns.py). Every test,
# and every child process a test starts, resolves through it, so no lookup
# ever leaves this machine; names nobody published are NXDOMAIN.
@pytest.fixture(scope="session", autouse=True)
def _test_dns() -> Iterator[TestDNS]:
    server = TestDNS().start()
    nameserver = f"127.0.0.1:{server.port}"
    previous = os.environ.get("DNS_NAMESERVERS")
    os.environ["DNS_NAMESERVERS"] = nameserver
    overrides = override_settings(DNS_NAMESERVERS=[server.address])
    overrides.enable()
    yield server
    overrides.disable()
    if previous is None:
        os.environ.pop("DNS_NAMESERVERS", None)
    else:
        os.environ["DNS_NAMESERVERS"] = previous
    server.stop()


@pytest.fixture
def dns(_test_dns: TestDNS) -> Iterator[TestDNS]:
    """The test DNS server, empty; publish records with dns.txt(name, text)."""
    _test_dns.clear()
    yield _test_dns
    _test_dns.clear()
