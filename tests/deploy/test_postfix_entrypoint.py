"""postfix/entrypoint.sh run on the host as the Postfix container runs it."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.deploy import ROOT, Service, free_port, postgres_url

ENTRYPOINT = str(ROOT / "postfix" / "entrypoint.sh")
HEALTHCHECK = str(ROOT / "postfix" / "healthcheck.sh")
APP_ENTRYPOINT = str(ROOT / "docker" / "entrypoint.sh")

needs_postfix = pytest.mark.skipif(
    shutil.which("postfix", path="/usr/sbin:/usr/bin") is None,
    reason="needs Postfix: apt-get install postfix postfix-sqlite postfix-pgsql",
)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="Postfix's master must start as root")


@pytest.fixture
def postfix_root() -> Iterator[Path]:
    # Not under pytest's tmp_path: its parents are 0700 and Postfix's
    # unprivileged daemons must reach the queue.
    root = Path(tempfile.mkdtemp(prefix="listkeeper-postfix-ep-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ses_secrets(tmp_path: Path) -> dict[str, str]:
    directory = tmp_path / "run-secrets"
    directory.mkdir()
    (directory / "ses_user").write_text("AKIAIOSFODNN7EXAMPLE\n")
    (directory / "ses_pass").write_text("ses-smtp-password\n")
    return {
        "SES_USER_FILE": str(directory / "ses_user"),
        "SES_PASS_FILE": str(directory / "ses_pass"),
    }


def greets(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(5)
            return sock.recv(4).startswith(b"220")
    except OSError:
        return False


def stop_postfix(service: Service, config_dir: Path) -> None:
    """Stop Postfix as `docker stop` would, and make sure nothing is left running.

    On the host the entrypoint is not PID 1, so start-fg runs `master -s`, which
    starts its own session: signalling the entrypoint's process group would
    miss it. `postfix stop` reaches it through its pid file.
    """
    pid_file = config_dir.parent.parent / "var" / "spool" / "postfix" / "pid" / "master.pid"
    subprocess.run(["postfix", "-c", str(config_dir), "stop"], capture_output=True, timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            break
        time.sleep(0.2)
    else:
        subprocess.run(["postfix", "-c", str(config_dir), "abort"], capture_output=True, timeout=60)
    service.stop()


def postfix_env(
    app_env: dict[str, str],
    ses_secrets: dict[str, str],
    postfix_root: Path,
    ses: Any,
    test_ca: Any,
    drop: tuple[str, ...] = ("SECRET_KEY_FILE",),
    **extra: str,
) -> tuple[dict[str, str], int, int]:
    """The Postfix container's environment on this host; its SMTP and reinjection ports."""
    smtp_port, reinject_port = free_port(), free_port()
    env = {
        **{k: v for k, v in app_env.items() if k not in drop},
        **ses_secrets,
        "POSTFIX_ROOT": str(postfix_root),
        "LISTKEEPER_DATA_DIR": str(postfix_root / "var" / "lib" / "listkeeper"),
        "RELAY_HOST": ses.relay,
        "RELAY_TLS_CA_FILE": str(test_ca.ca_file),
        "SMTP_LISTEN": f"127.0.0.1:{smtp_port}",
        "REINJECT_HOST": f"127.0.0.1:{reinject_port}",
        "REINJECT_NETWORKS": "127.0.0.0/8",
        "LMTP_LISTEN": f"127.0.0.1:{free_port()}",
        "HANDOFF_POLICY": f"127.0.0.1:{free_port()}",
        # Unpaced: no relay gate, so mail that is not a personalised copy
        # reaches SES without a policy service (none runs in these tests).
        "SES_MAX_SEND_RATE": "0",
        **extra,
    }
    return env, smtp_port, reinject_port


def wait_until_listening(service: Service, *ports: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    for port in ports:
        while not greets("127.0.0.1", port):
            if service.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Postfix never listened on {port}:\n{service.output()}")
            time.sleep(0.2)


@needs_root
def test_it_refuses_to_start_without_ses_credentials(app_env, postfix_root, tmp_path) -> None:
    env = {**app_env, "POSTFIX_ROOT": str(postfix_root), "SES_USER_FILE": str(tmp_path / "absent")}

    result = subprocess.run([ENTRYPOINT], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 64
    assert "SES_USER_FILE" in result.stderr and "docs/ses.md" in result.stderr
    assert not (postfix_root / "etc" / "postfix" / "main.cf").exists()


@pytest.mark.e2e
@needs_postfix
@needs_root
def test_it_renders_starts_and_relays_to_ses_with_starttls_and_auth(
    app_env, postfix_root, ses_secrets, ses, test_ca, tmp_path
) -> None:
    ses.username, ses.password = "AKIAIOSFODNN7EXAMPLE", "ses-smtp-password"
    ro_role = None
    env = dict(app_env)
    if postgres_url():
        # As in compose: migrate grants the read-only role Postfix looks lists up with.
        ro_role = f"lk_ro_{secrets.token_hex(4)}"
        (tmp_path / "postfix_db_password").write_text(secrets.token_hex(16))
        env.update(
            POSTFIX_DB_USER=ro_role, POSTFIX_DB_PASSWORD_FILE=str(tmp_path / "postfix_db_password")
        )
    try:
        migrated = subprocess.run(
            [APP_ENTRYPOINT, "migrate"], env=env, capture_output=True, text=True, timeout=300
        )
        assert migrated.returncode == 0, migrated.stderr
        created = subprocess.run(
            [
                APP_ENTRYPOINT,
                "listkeeper",
                "shell",
                "-c",
                "from listkeeper.lists import services; services.create_list('community', 'lists.example.org', actor='test')",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert created.returncode == 0, created.stderr

        status_file = tmp_path / "status" / "postfix-queue.json"
        pf_env, smtp_port, reinject_port = postfix_env(
            app_env,
            ses_secrets,
            postfix_root,
            ses,
            test_ca,
            drop=("DATABASE_URL", "SECRET_KEY_FILE"),
            POSTFIX_QUEUE_STATUS_FILE=str(status_file),
        )
        if ro_role:
            url = urlsplit(app_env["DATABASE_URL"])
            pf_env.update(
                DATABASE_HOST=url.hostname or "127.0.0.1",
                DATABASE_PORT=str(url.port or 5432),
                DATABASE_NAME=url.path.lstrip("/"),
                DATABASE_USER=ro_role,
                DATABASE_PASSWORD_FILE=str(tmp_path / "postfix_db_password"),
            )
        else:
            pf_env["DATABASE_URL"] = app_env["DATABASE_URL"]

        postfix = Service([ENTRYPOINT], pf_env, tmp_path / "postfix.log")
        try:
            wait_until_listening(postfix, smtp_port, reinject_port)
            config = postfix_root / "etc" / "postfix"

            # The SASL map: the secret files' values, readable by root only.
            sasl = config / "sasl_passwd"
            assert (sasl.stat().st_mode & 0o777) == 0o600
            assert (
                sasl.read_text().strip()
                == f"[{ses.relay.split(':')[0]}]:{ses.port} AKIAIOSFODNN7EXAMPLE:ses-smtp-password"
            )
            if ro_role:
                assert f"user = {ro_role}" in (config / "relay_recipients.cf").read_text()

            # Inbound: the list exists (looked up live in the database), others do not.
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
                smtp.ehlo("sender.example.com")
                smtp.mail("someone@example.com")
                assert smtp.rcpt("community@lists.example.org")[0] == 250
                assert smtp.rcpt("nobody@lists.example.org")[0] == 550
                assert smtp.rcpt("victim@example.net")[0] == 554
                smtp.rset()

            # Out: a copy handed in on the reinjection listener reaches SES over
            # STARTTLS, authenticated with the credentials from the secret files.
            message = (
                "From: Community <community@lists.example.org>\r\nTo: member@example.com\r\n"
                "Subject: through the container entrypoint\r\n\r\nHello.\r\n"
            )
            with smtplib.SMTP("127.0.0.1", reinject_port, timeout=30) as smtp:
                smtp.sendmail(
                    "community-bounces@lists.example.org", ["member@example.com"], message
                )
            received = ses.wait_for(1, timeout=60)
            assert len(received) == 1, postfix.output()
            assert received[0].tls is True
            assert received[0].user == "AKIAIOSFODNN7EXAMPLE"
            assert received[0].rcpt_tos == ["member@example.com"]
            assert received[0].message["Subject"] == "through the container entrypoint"

            # The healthcheck: Postfix up, queue readable, status left for the web.
            check = subprocess.run(
                [HEALTHCHECK], env=pf_env, capture_output=True, text=True, timeout=60
            )
            assert check.returncode == 0, check.stderr
            status = json.loads(status_file.read_text())
            assert status["ok"] is True and "deferred" in status["messages"]

            # Rotation without a restart: new secret values, reload, still relays.
            Path(ses_secrets["SES_PASS_FILE"]).write_text("rotated-password")
            ses.password = "rotated-password"
            reload = subprocess.run(
                [ENTRYPOINT, "reload"], env=pf_env, capture_output=True, text=True, timeout=60
            )
            assert reload.returncode == 0, reload.stderr
            assert "rotated-password" in sasl.read_text() and (sasl.stat().st_mode & 0o777) == 0o600
            with smtplib.SMTP("127.0.0.1", reinject_port, timeout=30) as smtp:
                smtp.sendmail(
                    "community-bounces@lists.example.org", ["member2@example.com"], message
                )
            assert len(ses.wait_for(2, timeout=60)) == 2, postfix.output()
        finally:
            stop_postfix(postfix, postfix_root / "etc" / "postfix")
        output = postfix.output()
        assert "ses-smtp-password" not in output and "rotated-password" not in output
        stopped = subprocess.run(
            [HEALTHCHECK], env=pf_env, capture_output=True, text=True, timeout=60
        )
        assert stopped.returncode == 1 and "not running" in stopped.stderr
    finally:
        if ro_role:
            import psycopg

            with psycopg.connect(postgres_url() or "", autocommit=True) as admin:
                admin.execute(
                    f'DROP DATABASE IF EXISTS "{urlsplit(app_env["DATABASE_URL"]).path.lstrip("/")}" WITH (FORCE)'
                )
                admin.execute(f'DROP ROLE IF EXISTS "{ro_role}"')


def _queued_files(postfix_root: Path) -> list[Path]:
    spool = postfix_root / "var" / "spool" / "postfix"
    return [
        p
        for q in ("incoming", "active", "deferred", "hold")
        for p in (spool / q).rglob("*")
        if p.is_file()
    ]


@pytest.mark.e2e
@needs_postfix
@needs_root
def test_a_stop_while_ses_is_answering_lets_the_delivery_finish_so_nothing_goes_twice(
    app_env, postfix_root, ses_secrets, ses, test_ca, tmp_path
) -> None:
    """`docker stop` (compose restart) mid-delivery: the copy SES took is not sent again.

    Postfix's master, stopped, kills its smtp clients at once: one that had
    sent a copy and was waiting for SES's 250 leaves it queued, and Postfix
    sends it again after the restart. The entrypoint drains instead.
    """
    ses.username, ses.password = "AKIAIOSFODNN7EXAMPLE", "ses-smtp-password"
    migrated = subprocess.run(
        [APP_ENTRYPOINT, "migrate"], env=app_env, capture_output=True, text=True, timeout=300
    )
    assert migrated.returncode == 0, migrated.stderr
    pf_env, smtp_port, reinject_port = postfix_env(app_env, ses_secrets, postfix_root, ses, test_ca)
    config = postfix_root / "etc" / "postfix"
    ses.reply_delay = 4.0  # SES has the copy; its 250 is on the way
    postfix = Service([ENTRYPOINT], pf_env, tmp_path / "postfix.log")
    try:
        wait_until_listening(postfix, smtp_port, reinject_port)
        with smtplib.SMTP("127.0.0.1", reinject_port, timeout=30) as smtp:
            smtp.sendmail(
                "community-bounces@lists.example.org",
                ["member@example.com"],
                "From: community@lists.example.org\r\nSubject: once\r\n\r\nHello.\r\n",
            )
        assert len(ses.wait_for(1, timeout=60)) == 1, postfix.output()
        # As `docker stop` does: SIGTERM to the container's first process.
        postfix.proc.send_signal(signal.SIGTERM)
        try:
            postfix.proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
    finally:
        stop_postfix(postfix, config)
    ses.reply_delay = 0.0
    assert "status=sent" in postfix.output(), postfix.output()

    again = Service([ENTRYPOINT], pf_env, tmp_path / "postfix-again.log")
    try:
        wait_until_listening(again, smtp_port, reinject_port)
        time.sleep(8)  # a copy left queued goes at once (queue_run_delay 1s)
    finally:
        stop_postfix(again, config)
    assert len(ses.messages) == 1, again.output()
    assert _queued_files(postfix_root) == [], again.output()


def ask_policy(port: int, **attributes: str) -> str:
    """One request to the hand-off policy service, as Postfix's smtpd sends it."""
    request = "".join(f"{name}={value}\n" for name, value in attributes.items()) + "\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        return sock.makefile("rb").readline().decode().strip().removeprefix("action=")


@needs_postfix
@needs_root
def test_a_stop_closes_the_hand_off_first_and_the_next_start_opens_it(
    app_env, postfix_root, ses_secrets, ses, test_ca, tmp_path, settings
) -> None:
    """While Postfix stops, copies are refused before they are marked, not cut off after.

    Postfix's stop kills each smtpd where it is; one killed between a copy's
    queue file and its 250 leaves the worker to send the copy again, and
    Postfix has it already.
    """
    from listkeeper.delivery import handoff
    from listkeeper.serving import AsyncServer

    settings.SES_MAX_SEND_RATE = 0  # the gate open: this is about the close
    policy_port = free_port()
    policy = AsyncServer("handoff", handoff.serve, ("127.0.0.1", policy_port), "hand-off policy")
    policy.start()
    end_of_copy = {
        "request": "smtpd_access_policy",
        "protocol_state": "END-OF-MESSAGE",
        "sender": "community-bounces@lists.example.org",
        "recipient": "member@example.com",
        "recipient_count": "1",
    }
    pf_env, smtp_port, reinject_port = postfix_env(
        app_env,
        ses_secrets,
        postfix_root,
        ses,
        test_ca,
        HANDOFF_POLICY=f"127.0.0.1:{policy_port}",
    )
    config = postfix_root / "etc" / "postfix"
    try:
        postfix = Service([ENTRYPOINT], pf_env, tmp_path / "postfix.log")
        try:
            wait_until_listening(postfix, smtp_port, reinject_port)
            assert ask_policy(policy_port, **end_of_copy) == handoff.DUNNO
            postfix.proc.send_signal(signal.SIGTERM)  # as `docker stop` does
            try:
                postfix.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        finally:
            stop_postfix(postfix, config)
        assert ask_policy(policy_port, **end_of_copy) == handoff.CLOSED, postfix.output()

        again = Service([ENTRYPOINT], pf_env, tmp_path / "postfix-again.log")
        try:
            wait_until_listening(again, smtp_port, reinject_port)
            assert ask_policy(policy_port, **end_of_copy) == handoff.DUNNO, again.output()
        finally:
            stop_postfix(again, config)
    finally:
        policy.stop()
