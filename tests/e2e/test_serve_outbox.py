"""`make run` without SES credentials: a post reaches every member's copy in the local outbox."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import time
from email.message import EmailMessage

import pytest

from listkeeper.lists import services
from tests.support.accounts import PASSWORD, make_user
from tests.support.serve import read_until, serving, signed_in

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("postfix") is None, reason="needs Postfix and root"
    ),
]


def test_it_catches_every_copy_in_the_outbox_and_lists_them_on_the_status_page(
    transactional_db,
) -> None:
    ml = services.create_list(
        "community", "lists.example.org", actor="test", display_name="Community"
    )
    make_user("root@example.org", admin=True)
    members = ["ann@example.net", "bob@example.net", "cyd@example.org"]
    for address in members:
        services.subscribe(ml, address, actor="test")
    with serving() as served:
        proc, data, web, smtp = served.proc, served.data, served.web, served.smtp
        banner = read_until(proc, "Press Ctrl-C")
        assert "catcher" in banner and "worker" in banner and "LMTP" in banner

        msg = EmailMessage()
        msg["From"] = "Ann <ann@example.net>"
        msg["To"] = ml.address
        msg["Subject"] = "Hello from make run"
        msg.set_content("Hi all.\n")
        with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as client:
            client.send_message(msg)

        outbox = data / "outbox"
        deadline = time.monotonic() + 60
        while len(list(outbox.glob("*.eml"))) < len(members):
            assert time.monotonic() < deadline, f"outbox has {list(outbox.glob('*'))}"
            time.sleep(0.2)
        copies = [p.read_bytes() for p in outbox.glob("*.eml")]
        assert sorted(
            c.split(b"X-Listkeeper-To: ")[1].split(b"\r\n")[0].decode() for c in copies
        ) == sorted(members)
        assert all(b"Subject: Hello from make run" in c for c in copies)

        admin = signed_in(f"http://127.0.0.1:{web}", "root@example.org", PASSWORD)
        page = admin.open(f"http://127.0.0.1:{web}/status/", timeout=30).read().decode()
        assert "Hello from make run" in page and "bob@example.net" in page

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
