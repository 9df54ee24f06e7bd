"""`listkeeper serve` as a child process, for the tests of `make run`."""

from __future__ import annotations

import http.cookiejar
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from listkeeper.postfix.instance import PostfixInstance
from tests.sesstub import free_port
from tests.support.database import child_database_url


@dataclass
class Serving:
    proc: subprocess.Popen[str]
    data: Path  # its LISTKEEPER_DATA_DIR
    web: int  # port of the web app
    smtp: int  # port of the private Postfix's inbound SMTP

    @property
    def postfix(self) -> PostfixInstance:
        return PostfixInstance(self.data / "postfix")


@contextmanager
def serving() -> Iterator[Serving]:
    """Start `listkeeper serve` on free ports with no SES settings; stop it and its Postfix."""
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
        "HANDOFF_POLICY": f"127.0.0.1:{free_port()}",
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("listkeeper")), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    served = Serving(proc, data, web, smtp)
    try:
        yield served
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        served.postfix.stop()
        shutil.rmtree(data, ignore_errors=True)


def read_until(proc: subprocess.Popen[str], marker: str) -> str:
    """What serve printed up to the line with `marker`."""
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"serve exited before {marker!r}:\n{''.join(lines)}")


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
