"""docker/entrypoint.sh run on the host as the app containers run it."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time

import pytest

from tests.support.deploy import ROOT, Service, free_port, postgres_url, wait_for_http

ENTRYPOINT = str(ROOT / "docker" / "entrypoint.sh")


def run(role: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENTRYPOINT, role, *args], env=env, capture_output=True, text=True, timeout=300
    )


def until_healthy(
    service: Service, *args: str, env: dict[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run `listkeeper health ARGS` until it passes, the service exits, or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        check = run("listkeeper", "health", *args, env=env)
        if check.returncode == 0 or service.proc.poll() is not None:
            return check
        if time.monotonic() > deadline:
            return check
        time.sleep(0.2)


def test_it_migrates_then_serves_web_with_health_and_static_files(app_env, tmp_path) -> None:
    migrated = run("migrate", env=app_env)
    assert migrated.returncode == 0, migrated.stderr
    # The image collects static files at build time the same way.
    collected = run("listkeeper", "collectstatic", "--no-input", env=app_env)
    assert collected.returncode == 0, collected.stderr

    port = free_port()
    env = {**app_env, "WEB_LISTEN": f"127.0.0.1:{port}", "WEB_WORKERS": "2"}
    web = Service([ENTRYPOINT, "web"], env, tmp_path / "web.log")
    try:
        status, body = wait_for_http(f"http://127.0.0.1:{port}/healthz?check=database", web)
        assert status == 200, body
        assert json.loads(body)["checks"]["database"]["ok"] is True

        status, body = wait_for_http(
            f"http://127.0.0.1:{port}/static/listkeeper/listkeeper.css", web
        )
        assert status == 200 and body

        # A signed link in an access log would let anyone reading logs act for a member.
        token = "eyJhbGciOiJzZWNyZXQ"
        wait_for_http(f"http://127.0.0.1:{port}/u/{token}/", web)
        status, metrics = wait_for_http(f"http://127.0.0.1:{port}/metrics", web)
        assert status == 200
        assert (
            b'listkeeper_http_request_duration_seconds_count{method="GET",status="2xx",view="healthz"}'
            in metrics
        )
    finally:
        web.stop()
    output = web.output()
    assert "/healthz" in output  # the access log is there
    assert token not in output


def test_it_refuses_to_start_without_a_shared_secret_key(app_env) -> None:
    env = {k: v for k, v in app_env.items() if k != "SECRET_KEY_FILE"}

    result = run("web", env=env)

    assert result.returncode == 64
    assert "SECRET_KEY_FILE" in result.stderr


def test_every_command_finds_the_database_from_its_parts_and_password_file(
    app_env, tmp_path
) -> None:
    # What `docker compose exec web listkeeper ...` gets: the container's
    # environment, not one the entrypoint assembled.
    password = "p@ss/word:with?odd#chars"
    password_file = tmp_path / "db_password"
    password_file.write_text(password + "\n")
    env = {k: v for k, v in app_env.items() if k != "DATABASE_URL"}
    env.update(
        DATABASE_HOST="db.internal",
        DATABASE_PORT="6543",
        DATABASE_NAME="lists",
        DATABASE_USER="keeper",
        DATABASE_PASSWORD_FILE=str(password_file),
    )
    show = (
        "import json; from django.conf import settings; d = settings.DATABASES['default'];"
        " print(json.dumps({k: d[k] for k in ('ENGINE', 'HOST', 'PORT', 'NAME', 'USER', 'PASSWORD')}))"
    )

    result = run("listkeeper", "shell", "-c", show, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "db.internal",
        "PORT": 6543,
        "NAME": "lists",
        "USER": "keeper",
        "PASSWORD": password,
    }


def test_a_database_host_that_never_answers_fails_within_the_connect_timeout(
    app_env, tmp_path
) -> None:
    # A host that takes the connection and never answers (a hung server; for
    # a vanished one the kernel's SYN retries hold just as long): the
    # worker's healthcheck must fail, not wait for Docker to kill it.
    password_file = tmp_path / "db_password"
    password_file.write_text("secret\n")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted, never answered
        env = {k: v for k, v in app_env.items() if k != "DATABASE_URL"}
        env.update(
            DATABASE_HOST="127.0.0.1",
            DATABASE_PORT=str(silent.getsockname()[1]),
            DATABASE_PASSWORD_FILE=str(password_file),
            DATABASE_CONNECT_TIMEOUT="2",
            HEALTH_WORKER_MAX_AGE="60",
        )
        started = time.monotonic()
        result = run("listkeeper", "health", "--check", "worker", env=env)
        took = time.monotonic() - started

    assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["checks"]["worker"] == {
        "ok": False,
        "detail": "heartbeats unreadable (OperationalError)",
    }
    # Two seconds of timeout (libpq may try the address twice) plus a Python
    # start; without the timeout it waits as long as the server keeps quiet.
    assert took < 30, took


def test_it_names_an_unreadable_database_password_file(app_env, tmp_path) -> None:
    env = {k: v for k, v in app_env.items() if k != "DATABASE_URL"}
    env.update(DATABASE_HOST="db", DATABASE_PASSWORD_FILE=str(tmp_path / "missing"))

    result = run("listkeeper", "check", env=env)

    assert result.returncode != 0
    assert "DATABASE_PASSWORD_FILE" in result.stderr


@pytest.mark.skipif(
    postgres_url() is None,
    reason="the read-only role needs PostgreSQL (DATABASE_URL=postgres://...)",
)
def test_it_builds_the_database_url_and_grants_postfix_a_read_only_role(app_env, tmp_path) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    url = urlsplit(app_env["DATABASE_URL"])
    password = secrets.token_hex(16)
    (tmp_path / "db_password").write_text(password + "\n")
    ro_password = secrets.token_hex(16)
    (tmp_path / "postfix_db_password").write_text(ro_password + "\n")
    role = f"lk_ro_{secrets.token_hex(4)}"
    env = {k: v for k, v in app_env.items() if k != "DATABASE_URL"}
    env.update(
        DATABASE_PASSWORD_FILE=str(tmp_path / "db_password"),
        DATABASE_USER=url.username or "postgres",
        DATABASE_HOST=url.hostname or "127.0.0.1",
        DATABASE_PORT=str(url.port or 5432),
        DATABASE_NAME=url.path.lstrip("/"),
        POSTFIX_DB_USER=role,
        POSTFIX_DB_PASSWORD_FILE=str(tmp_path / "postfix_db_password"),
    )
    try:
        result = run("migrate", env=env)
        assert result.returncode == 0, result.stderr
        assert f"{role} created" in result.stdout
        assert password not in result.stdout + result.stderr
        assert ro_password not in result.stdout + result.stderr

        as_app = psycopg.connect(app_env["DATABASE_URL"], autocommit=True)
        as_app.execute(
            "INSERT INTO lists_mailinglist (local_part, domain, display_name, description,"
            " posting_policy, nonmember_action, subject_tag, personalised, max_message_size,"
            " reply_to, public, footer, send_welcome, send_goodbye, held_expiry_days,"
            " bounce_score_threshold, archive_visibility, created, unauthenticated_action)"
            " VALUES ('community', 'lists.example.org', '', '', 'members', 'hold', '', true, 1000,"
            " 'list', true, true, true, false, 14, 5.0, 'members', now(), 'hold')"
        )
        as_app.close()

        ro_url = urlunsplit(
            url._replace(netloc=f"{role}:{ro_password}@{url.hostname}:{url.port or 5432}")
        )
        with psycopg.connect(ro_url, autocommit=True) as ro:
            rows = ro.execute("SELECT local_part FROM lists_mailinglist").fetchall()
            assert rows == [("community",)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                ro.execute("SELECT password FROM auth_user")
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                ro.execute("DELETE FROM lists_mailinglist")

        # Rotating the password: run migrate again with a new one.
        (tmp_path / "postfix_db_password").write_text(secrets.token_hex(16))
        again = run("migrate", env=env)
        assert again.returncode == 0 and f"{role} updated" in again.stdout
    finally:
        with psycopg.connect(postgres_url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{url.path.lstrip("/")}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_it_starts_lmtpd_healthy(app_env, tmp_path) -> None:
    assert run("migrate", env=app_env).returncode == 0
    env = {**app_env, "LMTP_LISTEN": f"0.0.0.0:{free_port()}"}
    lmtpd = Service([ENTRYPOINT, "lmtpd"], env, tmp_path / "lmtpd.log")
    try:
        check = until_healthy(lmtpd, "--check", "lmtp", env=env)
        assert check.returncode == 0, check.stdout + lmtpd.output()
    finally:
        lmtpd.stop()


def test_it_starts_a_worker_that_reports_healthy(app_env, tmp_path) -> None:
    assert run("migrate", env=app_env).returncode == 0
    worker = Service([ENTRYPOINT, "worker"], app_env, tmp_path / "worker.log")
    try:
        # What the compose healthcheck runs: this worker's own heartbeat, by hostname.
        check = until_healthy(
            worker, "--check", "worker", "--worker", socket.gethostname(), env=app_env
        )
        assert check.returncode == 0, check.stdout + worker.output()
    finally:
        worker.stop()


def test_it_runs_the_periodic_jobs(app_env, tmp_path) -> None:
    assert run("migrate", env=app_env).returncode == 0
    env = {**app_env, "HOUSEKEEPING_EVERY": "1"}
    jobs = Service([ENTRYPOINT, "housekeeping"], env, tmp_path / "housekeeping.log")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and jobs.proc.poll() is None:
            if jobs.output().count("expired 0 held post(s)") >= 2:
                break
            time.sleep(0.1)
    finally:
        code = jobs.stop()
    assert jobs.output().count("expired 0 held post(s)") >= 2, jobs.output()
    assert "0 delivery report(s) processed" in jobs.output()
    assert code == 0  # SIGTERM ends it cleanly
