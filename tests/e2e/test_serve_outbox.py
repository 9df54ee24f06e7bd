"""`make run` without SES credentials: a post reaches every member's copy in the local outbox."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from listkeeper.lists import services
from tests.sesstub import free_port
from tests.support.accounts import PASSWORD, make_user
from tests.support.database import child_database_url
from tests.test_serve import read_until, signed_in

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
    data = Path(tempfile.mkdtemp(prefix="listkeeper-serve-"))
    data.chmod(0o755)
    web, smtp = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SES_")},
        "DATABASE_URL": child_database_url(),
        "LISTKEEPER_DATA_DIR": str(data),
        "SERVE": f"127.0.0.1:{web}",
        "SMTP_LISTEN": f"127.0.0.1:{smtp}",
        "REINJECT_HOST": f"127.0.0.1:{free_port()}",
        "LMTP_LISTEN": f"127.0.0.1:{free_port()}",
    }
    script = Path(sys.executable).with_name("listkeeper")
    proc = subprocess.Popen(
        [str(script), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
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
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        from listkeeper.postfix.instance import PostfixInstance

        PostfixInstance(data / "postfix").stop()
        shutil.rmtree(data, ignore_errors=True)
