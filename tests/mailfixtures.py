"""Fixtures with real mail servers: the SES stand-in and a private Postfix.

Imported by tests/conftest.py, so every test directory can use them:

    @pytest.mark.e2e
    def test_it_...(postfix, ses, transactional_db): ...

- `ses`: the SES stand-in (tests/sesstub.py), one per session, emptied and
  reset before each test; change `ses.max_rate`, `ses.reject_recipients`,
  `ses.verified_domains` freely in a test.
- `postfix`: a private Postfix instance (listkeeper.postfix.instance) for the
  session, rendered exactly as production renders it, on free ports, relaying
  to `ses` over STARTTLS+AUTH with the certificate checked. While it runs,
  Django's settings point at it: settings.SMTP_LISTEN (public smtpd),
  settings.REINJECT_HOST (and EMAIL_HOST/EMAIL_PORT), settings.RELAY_HOST,
  settings.LMTP_LISTEN, a free port where Postfix delivers list mail and
  where an LMTP server under test should listen, and settings.HANDOFF_POLICY,
  where Postfix asks the hand-off policy service (`handoff_policy`, running
  while `postfix` is in use). Use `transactional_db` in
  tests that talk to it: Postfix reads committed rows only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from listkeeper.delivery import handoff
from listkeeper.postfix.instance import PostfixInstance, postfix_binary
from listkeeper.postfix.render import Options
from listkeeper.serving import AsyncServer
from tests.sesstub import SESStub, TestCA, free_port


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A CA made for this run and a certificate for `localhost` it signed."""
    ca = TestCA(tmp_path_factory.mktemp("ca"))
    # Postfix's unprivileged processes read the CA file.
    ca.ca_file.parent.chmod(0o755)
    ca.ca_file.chmod(0o644)
    return ca


@pytest.fixture(scope="session")
def _ses_server(test_ca: TestCA) -> Iterator[SESStub]:
    stub = SESStub(ca=test_ca, verified_domains={settings.LISTKEEPER_DOMAIN})
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture
def ses(_ses_server: SESStub) -> SESStub:
    """The SES stand-in, empty, with its default behaviour, running."""
    stub = _ses_server
    stub.start()
    stub.clear()
    stub.verified_domains = {settings.LISTKEEPER_DOMAIN}
    stub.max_recipients = 50
    stub.max_rate = 0.0
    stub.rate_window = 1.0
    stub.reject_recipients = set()
    stub.reply_delay = 0.0
    return stub


@pytest.fixture(scope="session")
def _postfix_instance(
    django_db_setup: None, _ses_server: SESStub, test_ca: TestCA
) -> Iterator[PostfixInstance]:
    if postfix_binary() is None:
        pytest.skip("needs Postfix: apt-get install postfix postfix-sqlite postfix-pgsql")
    if os.geteuid() != 0:
        pytest.skip("Postfix's master must start as root")
    root = Path(tempfile.mkdtemp(prefix="listkeeper-postfix-"))
    root.chmod(0o755)  # Postfix's unprivileged daemons must reach the queue
    listen = {
        "SMTP_LISTEN": ("127.0.0.1", free_port()),
        "REINJECT_HOST": ("127.0.0.1", free_port()),
        "LMTP_LISTEN": ("127.0.0.1", free_port()),
        "HANDOFF_POLICY": ("127.0.0.1", free_port()),
        "RELAY_HOST": (_ses_server.server_name, _ses_server.port),
    }
    overrides = override_settings(
        **listen,
        EMAIL_HOST=listen["REINJECT_HOST"][0],
        EMAIL_PORT=listen["REINJECT_HOST"][1],
        HANDOFF_POLICY_LISTEN=listen["HANDOFF_POLICY"],
        RELAY_TLS="secure",
        RELAY_TLS_CA_FILE=str(test_ca.ca_file),
        SES_USER=_ses_server.username,
        SES_PASS=_ses_server.password,
        # No SES API behind this stand-in (tests/delivery/test_ses_quota.py has one).
        SES_QUOTA_REFRESH=0,
    )
    overrides.enable()
    # The SES transport reports each result to the policy service (its relay gate).
    instance = PostfixInstance(root, Options(relay_status_filter=True))
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        overrides.disable()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def handoff_policy(_postfix_instance: PostfixInstance, settings: Any) -> Iterator[AsyncServer]:
    """The hand-off policy service the private Postfix asks (in production, in lmtpd).

    Its relay gate is open (SES_MAX_SEND_RATE 0), as the tests' workers are
    unpaced unless a test says otherwise; a test that paces sets the setting,
    and the service follows within `handoff.RATE_EVERY`.
    """
    settings.SES_MAX_SEND_RATE = 0
    server = AsyncServer("handoff", handoff.serve, settings.HANDOFF_POLICY, "hand-off policy")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postfix(
    _postfix_instance: PostfixInstance, ses: SESStub, handoff_policy: AsyncServer
) -> PostfixInstance:
    """The running private Postfix; see the module docstring for what it is wired to."""
    if not _postfix_instance.is_running():
        _postfix_instance.start()
    return _postfix_instance
