from __future__ import annotations

import signal
from io import StringIO

import pytest
from django.core.management import call_command

from listkeeper.delivery.models import Recipient, RecipientState, WorkerHeartbeat
from tests.support import proc
from tests.support.accounts import make_user
from tests.support.delivery import post_to
from tests.support.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_stops_cleanly_on_sigterm_and_hands_back_what_it_had_not_sent(
    community, sink, tmp_path
) -> None:
    handler, server = sink
    delivery = post_to(community, 40)
    worker = proc.start(
        "worker",
        "--name",
        "sigterm-test",
        log=tmp_path / "worker.log",
        REINJECT_HOST=f"127.0.0.1:{server.port}",
        SES_MAX_SEND_RATE="10",
    )
    try:
        wait_for(lambda: len(handler.messages) >= 3, what="the first copies")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, (tmp_path / "worker.log").read_text()
    finally:
        worker.kill()

    rows = Recipient.objects.filter(delivery=delivery)
    assert not rows.filter(state=RecipientState.CLAIMED).exists()
    assert rows.filter(state=RecipientState.SENT).count() == len(handler.messages)
    assert not WorkerHeartbeat.objects.filter(name="sigterm-test").exists()


def test_it_shows_progress_per_post(community) -> None:
    delivery = post_to(community, 3)
    Recipient.objects.filter(delivery=delivery, email="m0@example.net").update(
        state=RecipientState.SENT
    )
    delivery.handed_off = 1
    delivery.save()
    out = StringIO()

    call_command("deliveries", stdout=out)

    line = [ln for ln in out.getvalue().splitlines() if ln.strip().startswith(str(delivery.id))][0]
    assert "1/3" in line and "community@lists.example.org: Hello all" in line


def test_it_runs_lmtpd_until_sigterm(community, tmp_path) -> None:
    port = proc.free_port()
    lmtpd = proc.start("lmtpd", log=tmp_path / "lmtpd.log", LMTP_LISTEN=f"127.0.0.1:{port}")
    try:
        from tests.support.lmtp import LMTPClient

        def up() -> bool:
            try:
                LMTPClient("127.0.0.1", port).close()
                return True
            except OSError:
                return False

        wait_for(up, what="lmtpd to listen")
        client = LMTPClient("127.0.0.1", port)
        client.command("MAIL FROM:<a@example.com>")
        assert client.command("RCPT TO:<nosuch@elsewhere.example>").startswith("550 5.1.1")
        client.close()
        lmtpd.send_signal(signal.SIGTERM)
        assert lmtpd.wait(30) == 0, (tmp_path / "lmtpd.log").read_text()
    finally:
        lmtpd.kill()


def test_it_shows_fan_out_progress_and_the_outbox_on_the_status_page(
    community, client, settings, tmp_path
) -> None:
    from listkeeper.delivery import catcher

    settings.DATA_DIR = tmp_path
    settings.SES_USER = ""
    post_to(community, 4)
    catcher.save(
        catcher.outbox_dir(),
        b"Return-Path: <community-bounces+x@lists.example.org>\r\n"
        b"X-Listkeeper-To: m1@example.net\r\nSubject: Caught one\r\n\r\nHi\r\n",
    )

    client.force_login(make_user("root@example.org", admin=True))
    page = client.get("/status/").content.decode()

    assert "0 / 4" in page and "community@lists.example.org: Hello all" in page
    assert "Caught one" in page and "m1@example.net" in page
