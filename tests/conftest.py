from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from listkeeper.lists import services
from tests.support.database import child_database_url
from tests.support.dns import TestDNS

# No test asks the real SES API for the account's quota (RELAY_HOST defaults to
# SES's endpoint): not in this process, not in the commands it starts.
# tests/delivery/test_ses_quota.py turns it on against its stand-in.
os.environ["SES_QUOTA_REFRESH"] = "0"


@pytest.fixture(autouse=True)
def _no_ses_quota(settings) -> None:
    settings.SES_QUOTA_REFRESH = 0


@pytest.fixture
def community(db):
    return services.create_list(
        "community", "lists.example.org", actor="test", display_name="Community"
    )


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
from tests.mailfixtures import (  # noqa: E402,F401
    _postfix_instance,
    _ses_server,
    handoff_policy,
    postfix,
    ses,
    test_ca,
)


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
