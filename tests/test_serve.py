"""`listkeeper serve`: the web app and the private Postfix in one process, stopped cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from listkeeper.lists import services
from tests.support.serve import read_until, serving


@pytest.mark.e2e
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("postfix") is None, reason="needs Postfix and root"
)
def test_it_serves_the_status_page_and_postfix_and_stops_on_sigterm(transactional_db) -> None:
    ml = services.create_list("community", "lists.example.org", actor="test")
    services.subscribe(ml, "member@example.org", actor="test")
    with serving() as served:
        proc, web, smtp = served.proc, served.web, served.smtp
        banner = read_until(proc, "Press Ctrl-C")
        assert f"sign in at http://127.0.0.1:{web}/accounts/login/" in banner
        assert "links in mail use SITE_URL" not in banner  # SITE_URL followed SERVE
        assert (
            f"swaks --server 127.0.0.1:{smtp} --from member@example.org "
            "--to community@lists.example.org"
        ) in banner
        assert f"SMTP on 127.0.0.1:{smtp}" in banner

        # The status page is for site admins: anonymous visitors land on sign-in.
        reply = urllib.request.urlopen(f"http://127.0.0.1:{web}/status/", timeout=30)
        assert reply.url.startswith(f"http://127.0.0.1:{web}/accounts/login/")
        assert served.postfix.is_running()

        with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as client:
            client.ehlo("client.example.net")
            client.mail("poster@example.net")
            assert client.rcpt("community@lists.example.org")[0] == 250

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not served.postfix.is_running()
        with pytest.raises(OSError):
            smtplib.SMTP("127.0.0.1", smtp, timeout=5)


def test_site_url_follows_serve_unless_set(tmp_path) -> None:
    code = "import django; django.setup(); from django.conf import settings as s; print(s.SITE_URL)"

    def site_url(**env: str) -> str:
        child = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "SERVE")} | {
            "DJANGO_SETTINGS_MODULE": "listkeeper.settings",
            "LISTKEEPER_DATA_DIR": str(tmp_path),
        }
        out = subprocess.run(
            [sys.executable, "-c", code], env={**child, **env}, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert site_url() == "http://127.0.0.1:8000"
    assert site_url(SERVE="127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert site_url(SERVE="0.0.0.0:8080") == "http://127.0.0.1:8080"
    assert site_url(SERVE="127.0.0.1:8080", SITE_URL="https://lists.example.org/") == (
        "https://lists.example.org"
    )
