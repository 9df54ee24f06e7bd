"""The reinjection smtpd and the relay to SES: STARTTLS, AUTH, a verified certificate."""

from __future__ import annotations

import shutil
import smtplib
import stat
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from listkeeper.postfix.instance import PostfixInstance
from listkeeper.postfix.render import SASL_MAP, Options
from tests.sesstub import SESStub, TestCA, free_port

pytestmark = pytest.mark.e2e


def reinject(instance: PostfixInstance, recipient: str, subject: str) -> None:
    host, port = instance.options.reinject_listen
    sender = f"community-bounces+tok@{settings.LISTKEEPER_DOMAIN}"
    message = (
        f"From: Community <community@{settings.LISTKEEPER_DOMAIN}>\r\n"
        f"To: {recipient}\r\nSubject: {subject}\r\n\r\nHello.\r\n"
    )
    with smtplib.SMTP(host, port, timeout=30) as client:
        client.sendmail(sender, [recipient], message.encode())


def test_it_relays_reinjected_mail_to_ses_over_starttls_and_auth(
    postfix, ses, transactional_db
) -> None:
    subject = f"relay {uuid.uuid4()}"
    reinject(postfix, "member@example.com", subject)

    got = [m for m in ses.wait_for(1) if m.message["Subject"] == subject]
    assert len(got) == 1
    assert got[0].rcpt_tos == ["member@example.com"]
    assert got[0].mail_from == f"community-bounces+tok@{settings.LISTKEEPER_DOMAIN}"
    assert got[0].tls is True
    assert got[0].user == ses.username


def test_it_keeps_the_ses_credentials_in_a_file_only_root_can_read(postfix) -> None:
    sasl = postfix.config_dir / SASL_MAP
    assert stat.S_IMODE(sasl.stat().st_mode) == 0o600
    assert settings.SES_PASS in sasl.read_text()
    for path in postfix.config_dir.iterdir():
        if path.name != SASL_MAP:
            assert settings.SES_PASS not in path.read_text(), path
    assert settings.SES_PASS not in postfix.log_file.read_text()


def test_it_refuses_a_relay_whose_certificate_it_cannot_verify(
    ses, tmp_path, transactional_db
) -> None:
    """The seed's `encrypt` level would have sent this mail to an impostor."""
    impostor = SESStub(
        ca=TestCA(tmp_path / "impostor"), verified_domains={settings.LISTKEEPER_DOMAIN}
    )
    impostor.start()
    root = Path(tempfile.mkdtemp(prefix="listkeeper-postfix-"))
    root.chmod(0o755)
    options = Options(
        smtp_listen=("127.0.0.1", free_port()),
        reinject_listen=("127.0.0.1", free_port()),
        relay=(impostor.server_name, impostor.port),
        relay_ca_file=str(ses.ca.ca_file),  # the session's test CA, not the impostor's
        ses_user=impostor.username,
        ses_pass=impostor.password,
        relay_status_filter=False,  # no relay gate: no policy service runs for this instance
    )
    instance = PostfixInstance(root, options)
    try:
        instance.start()
        reinject(instance, "member@example.com", "to an impostor")
        deadline = time.monotonic() + 30
        while "certificate verification failed for localhost" not in instance.log_file.read_text():
            assert time.monotonic() < deadline, instance.log_tail()
            time.sleep(0.2)
        assert impostor.messages == []
    finally:
        instance.stop()
        impostor.stop()
        shutil.rmtree(root, ignore_errors=True)
