"""`listkeeper serve`: the web app and the private Postfix in one process, stopped cleanly."""

from __future__ import annotations

import http.cookiejar
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from listkeeper.lists import services
from listkeeper.postfix.instance import PostfixInstance
from tests.conftest import child_database_url
from tests.sesstub import free_port


def signed_in(base: str, username: str, password: str) -> urllib.request.OpenerDirector:
    """An HTTP client signed in to a running web app (session and CSRF cookies kept)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/accounts/login/", timeout=30).read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    reply = opener.open(f"{base}/accounts/login/", data=form, timeout=30)
    assert not reply.url.endswith("/accounts/login/"), "signing in failed"
    return opener


def read_until(proc: subprocess.Popen[str], marker: str) -> str:
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"serve exited before {marker!r}:\n{''.join(lines)}")


@pytest.mark.e2e
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("postfix") is None, reason="needs Postfix and root"
)
def test_it_serves_the_status_page_and_postfix_and_stops_on_sigterm(transactional_db) -> None:
    services.create_list("community", "lists.example.org", actor="test")
    data = Path(tempfile.mkdtemp(prefix="listkeeper-serve-"))
    data.chmod(0o755)
    web, smtp, reinject = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": child_database_url(),
        "LISTKEEPER_DATA_DIR": str(data),
        "SERVE": f"127.0.0.1:{web}",
        "SMTP_LISTEN": f"127.0.0.1:{smtp}",
        "REINJECT_HOST": f"127.0.0.1:{reinject}",
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
        assert f"http://127.0.0.1:{web}/status/" in banner
        assert f"SMTP on 127.0.0.1:{smtp}" in banner

        # The status page is for site admins: anonymous visitors land on sign-in.
        reply = urllib.request.urlopen(f"http://127.0.0.1:{web}/status/", timeout=30)
        assert reply.url.startswith(f"http://127.0.0.1:{web}/accounts/login/")
        assert PostfixInstance(data / "postfix").is_running()

        with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as client:
            client.ehlo("client.example.net")
            client.mail("poster@example.net")
            assert client.rcpt("community@lists.example.org")[0] == 250

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not PostfixInstance(data / "postfix").is_running()
        with pytest.raises(OSError):
            smtplib.SMTP("127.0.0.1", smtp, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        PostfixInstance(data / "postfix").stop()
        shutil.rmtree(data, ignore_errors=True)
