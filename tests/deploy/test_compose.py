"""compose.yaml: valid for Debian's docker-compose, and shaped as docs/deployment.md says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy import ROOT

COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (apt-get install docker-compose)"
)


def compose(*args: str, env_file: Path = ROOT / ".env.example") -> subprocess.CompletedProcess[str]:
    # A clean environment: variables from the developer's shell must not fill gaps.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [
            COMPOSE,
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            "-f",
            str(ROOT / "compose.yaml"),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def config() -> dict:
    """The resolved configuration, as docker-compose sees it."""
    result = compose("config")
    assert result.returncode == 0, result.stderr
    return yaml_to_json(result.stdout)


def yaml_to_json(text: str) -> dict:
    # docker-compose is a Python program with PyYAML; its interpreter reads the YAML.
    to_json = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert to_json.returncode == 0, to_json.stderr
    return json.loads(to_json.stdout)


def test_it_is_accepted_by_docker_compose_config() -> None:
    result = compose("config", "-q")

    assert result.returncode == 0, result.stderr


def test_it_names_a_required_variable_that_is_missing(tmp_path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("SITE_URL=https://lists.example.org\n")

    result = compose("config", "-q", env_file=env_file)

    assert result.returncode != 0
    assert "set LISTKEEPER_DOMAIN in .env" in result.stderr


def test_it_publishes_only_smtp_and_web(config) -> None:
    published = {
        name: [
            str(p.get("target")) if isinstance(p, dict) else str(p).rsplit(":", 1)[-1]
            for p in svc["ports"]
        ]
        for name, svc in config["services"].items()
        if svc.get("ports")
    }

    assert published == {"postfix": ["25"], "web": ["8000"]}


def test_it_keeps_lmtp_the_worker_and_the_database_on_the_internal_network(config) -> None:
    services = config["services"]

    assert config["networks"]["internal"]["internal"] is True
    for name in ("db", "worker", "migrate", "housekeeping"):
        assert set(services[name]["networks"]) == {"internal"}, name
    assert set(services["postfix"]["networks"]) == {"internal", "public"}
    # lmtpd looks up DNS records to authenticate posts; it publishes nothing.
    assert set(services["lmtpd"]["networks"]) == {"internal", "public"}
    assert "ports" not in services["lmtpd"]


def test_it_lets_only_the_internal_network_use_the_reinjection_listener(config) -> None:
    postfix = config["services"]["postfix"]
    subnet = config["networks"]["internal"]["ipam"]["config"][0]["subnet"]
    address = postfix["networks"]["internal"]["ipv4_address"]

    assert postfix["environment"]["REINJECT_NETWORKS"] == subnet
    assert postfix["environment"]["REINJECT_HOST"] == f"{address}:10025"
    assert config["services"]["worker"]["environment"]["REINJECT_HOST"] == "postfix:10025"


def test_it_points_the_reinjection_listener_at_the_hand_off_policy_in_lmtpd(config) -> None:
    services = config["services"]
    # lmtpd, not the worker: a killed worker must not take the policy's answers
    # with it, and Postfix starts only once lmtpd is healthy.
    assert services["postfix"]["environment"]["HANDOFF_POLICY"] == "lmtpd:10031"
    assert services["lmtpd"]["environment"]["HANDOFF_POLICY_LISTEN"] == "0.0.0.0:10031"
    assert "10031" in [str(p) for p in services["lmtpd"]["expose"]]
    assert "ports" not in services["lmtpd"]


def test_it_passes_the_pacing_settings_from_env(tmp_path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(
        (ROOT / ".env.example").read_text()
        + "SES_RATE_HEADROOM=0.9\nRELAY_CONCURRENCY=7\nSES_MAX_SEND_RATE=33\n"
    )

    result = compose("config", env_file=env_file)

    assert result.returncode == 0, result.stderr
    services = yaml_to_json(result.stdout)["services"]
    assert services["worker"]["environment"]["SES_RATE_HEADROOM"] == "0.9"
    assert services["postfix"]["environment"]["RELAY_CONCURRENCY"] == "7"
    # The worker paces and lmtpd's relay gate caps at the same rate; Postfix
    # reports each result to the gate only where sending is paced.
    for name in ("worker", "lmtpd", "postfix"):
        assert services[name]["environment"]["SES_MAX_SEND_RATE"] == "33", name


def test_it_has_healthchecks_and_starts_in_order(config) -> None:
    services = config["services"]

    for name, svc in services.items():
        if name != "migrate":
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
            assert svc.get("restart") == "unless-stopped", name
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("web", "lmtpd", "worker", "postfix", "housekeeping"):
        deps = services[name]["depends_on"]
        assert deps["db"] == {"condition": "service_healthy"}, name
        assert deps["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["postfix"]["depends_on"]["lmtpd"] == {"condition": "service_healthy"}
    assert services["worker"]["depends_on"]["postfix"] == {"condition": "service_healthy"}


def test_it_passes_secrets_as_files_never_as_values(config) -> None:
    services = config["services"]

    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if any(word in key for word in ("PASS", "SECRET", "TOKEN", "KEY")):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), (name, key)
    assert {s["source"] for s in services["postfix"]["secrets"]} == {
        "ses_user",
        "ses_pass",
        "postfix_db_password",
    }
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"
    for secret in config["secrets"].values():
        assert Path(secret["file"]).parent == ROOT / "secrets"


def test_it_runs_the_app_containers_from_one_image(config) -> None:
    services = config["services"]
    images = {
        services[name]["image"] for name in ("migrate", "web", "lmtpd", "worker", "housekeeping")
    }

    assert len(images) == 1
    assert services["postfix"]["build"]["dockerfile"] == "postfix/Dockerfile"
    assert "postfix-queue" in config["volumes"] and "db-data" in config["volumes"]


def test_it_makes_secrets_once_without_changing_them(tmp_path) -> None:
    target = tmp_path / "secrets"
    first = subprocess.run(
        [str(ROOT / "docker" / "make-secrets.sh"), str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 0, first.stderr
    values = {p.name: p.read_text() for p in target.iterdir()}

    again = subprocess.run(
        [str(ROOT / "docker" / "make-secrets.sh"), str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert set(values) == {"db_password", "postfix_db_password", "secret_key", "metrics_token"}
    assert {p.name: p.read_text() for p in target.iterdir()} == values
    assert all(len(v) == 64 and v.isalnum() for v in values.values())
    assert (target.stat().st_mode & 0o777) == 0o700
    assert "ses_user" in again.stdout  # tells the operator what is left to do


def container_env(config: dict, service: str, tmp_path: Path) -> dict[str, str]:
    """The service's environment from compose, with paths moved into tmp_path."""
    env = {k: str(v) for k, v in config["services"][service]["environment"].items()}
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    for key, value in list(env.items()):
        if key.endswith("_FILE") and value.startswith("/run/secrets/"):
            path = secrets_dir / value.rsplit("/", 1)[1]
            path.write_text("0123456789abcdef0123456789abcdef")
            env[key] = str(path)
    for key in ("DATABASE_HOST", "DATABASE_NAME", "DATABASE_USER", "DATABASE_PASSWORD_FILE"):
        env.pop(key, None)
    env.update(
        PATH=os.environ["PATH"],
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        LISTKEEPER_DATA_DIR=str(tmp_path / "data"),
    )
    return env


@pytest.mark.parametrize("service", ["web", "lmtpd", "worker", "migrate", "housekeeping"])
def test_it_gives_the_app_containers_settings_that_load(config, service, tmp_path) -> None:
    env = container_env(config, service, tmp_path)

    result = subprocess.run(
        [str(Path(sys.executable).with_name("listkeeper")), "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    shutil.which("postconf", path="/usr/sbin:/usr/bin") is None, reason="needs Postfix (postconf)"
)
def test_it_renders_a_postfix_configuration_for_the_container_that_postfix_accepts(
    config, tmp_path
) -> None:
    env = container_env(config, "postfix", tmp_path)
    target = tmp_path / "etc-postfix"

    rendered = subprocess.run(
        [str(Path(sys.executable).with_name("listkeeper")), "postfix", "render", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rendered.returncode == 0, rendered.stderr
    checked = subprocess.run(
        ["postconf", "-c", str(target), "-n"], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr

    main_cf = checked.stdout
    master_cf = (target / "master.cf").read_text()
    assert "relay_transport = lmtp:inet:lmtpd:8024" in main_cf
    assert "mynetworks = 172.30.25.0/24" in main_cf
    assert "relayhost = [email-smtp.eu-west-2.amazonaws.com]:587" in main_cf
    assert "0.0.0.0:25 inet" in master_cf
    assert "172.30.25.25:10025 inet" in master_cf
    sasl = target / "sasl_passwd"
    assert (sasl.stat().st_mode & 0o777) == 0o600
