"""`listkeeper serve`: the web app and the private Postfix in one process, stopped cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import urllib.request

import pytest

from listkeeper.lists import services
from tests.support.serve import read_until, serving


@pytest.mark.e2e
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("postfix") is None, reason="needs Postfix and root"
)
def test_it_serves_the_status_page_and_postfix_and_stops_on_sigterm(transactional_db) -> None:
    services.create_list("community", "lists.example.org", actor="test")
    with serving() as served:
        proc, web, smtp = served.proc, served.web, served.smtp
        banner = read_until(proc, "Press Ctrl-C")
        assert f"http://127.0.0.1:{web}/status/" in banner
        assert f"SMTP on 127.0.0.1:{smtp}" in banner

        page = urllib.request.urlopen(f"http://127.0.0.1:{web}/status/", timeout=30).read().decode()
        assert "community@lists.example.org" in page
        assert "running" in page and "not running" not in page

        with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as client:
            client.ehlo("client.example.net")
            client.mail("poster@example.net")
            assert client.rcpt("community@lists.example.org")[0] == 250

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not served.postfix.is_running()
        with pytest.raises(OSError):
            smtplib.SMTP("127.0.0.1", smtp, timeout=5)
