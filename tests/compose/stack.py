"""One compose project of the test suite: compose.yaml as shipped, plus an override
that adds the SES stand-in, the test CA, the secrets and faster healthchecks."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import smtplib
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from tests.compose.engine import (
    APP_IMAGE,
    COMPOSE,
    HERE,
    POSTGRES_IMAGE,
    ROOT,
    TAG,
    Engine,
    run,
)
from tests.sesstub import TestCA

DOMAIN = "lists.example.org"
LIST = f"community@{DOMAIN}"
RELAY_NAME = "email-smtp.stub.test"
SNS_HOST = "sns.eu-west-2.amazonaws.com"
TOPIC = "arn:aws:sns:eu-west-2:123456789012:ses-feedback"
# Long-running services and the healthchecks compose.yaml gives them.
SERVICES = ("db", "web", "lmtpd", "worker", "housekeeping", "postfix")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(
    what: str,
    check: Callable[[], Any],
    within: float,
    every: float = 0.5,
    detail: Callable[[], str] | None = None,
) -> Any:
    """Poll `check` until it returns something true; fail naming `what` after `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {within:.0f}s waiting for {what}"
                + (f"\n{detail()}" if detail else "")
            )
        time.sleep(every)


def members_file(path: Path, count: int, sender: str) -> list[str]:
    """A virtual_aliases.cf like the seed's, with `count` members (the sender first)."""
    members = [sender] + [f"member{i:05d}@example.net" for i in range(1, count)]
    lines = ["# generated for the compose tests", LIST]
    lines += [f"    {m}," for m in members[:-1]] + [f"    {members[-1]}"]
    path.write_text("\n".join(lines) + "\n")
    return members


@dataclass
class Stack:
    engine: Engine
    workdir: Path
    settings: dict[str, str] = field(default_factory=dict)
    project: str = field(default_factory=lambda: "lk" + secrets.token_hex(4))
    smtp_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    ses_password: str = field(default_factory=lambda: secrets.token_hex(20))
    ses_user: str = "AKIA" + secrets.token_hex(8).upper()

    # --- set-up ---------------------------------------------------------

    def prepare(self) -> None:
        self.secrets_dir = self.workdir / "secrets"
        made = run([str(ROOT / "docker/make-secrets.sh"), str(self.secrets_dir)], timeout=60)
        assert made.returncode == 0, made.stderr
        (self.secrets_dir / "ses_user").write_text(self.ses_user)
        (self.secrets_dir / "ses_pass").write_text(self.ses_password)
        self.ses_dir = self.workdir / "ses"
        self.ses_dir.mkdir()
        ca = TestCA(self.workdir / "ca", hostnames=(RELAY_NAME, SNS_HOST))
        shutil.copy(ca.ca_file, self.ses_dir / "ca.pem")
        shutil.copy(ca.cert_file, self.ses_dir / "server.pem")
        shutil.copy(ca.key_file, self.ses_dir / "server.key")
        from tests.support.sns_signing import key_and_certificate

        (self.ses_dir / "sns-cert.pem").write_bytes(key_and_certificate()[1])
        self.write_ses_config()
        env = (ROOT / ".env.example").read_text()
        env += "\n# compose tests\n" + "\n".join(
            f"{k}={v}"
            for k, v in {
                "LISTKEEPER_DOMAIN": DOMAIN,
                "SITE_URL": f"https://{DOMAIN}",
                "LISTKEEPER_VERSION": TAG,
                "POSTGRES_IMAGE": POSTGRES_IMAGE,
                "RELAY_HOST": f"{RELAY_NAME}:587",
                "SES_SNS_TOPIC_ARNS": TOPIC,
                "SMTP_PUBLISH": f"127.0.0.1:{self.smtp_port}",
                "WEB_PUBLISH": f"127.0.0.1:{self.web_port}",
                "TRUSTED_PROXY_COUNT": "0",
                "SES_MAX_SEND_RATE": "0",
                "HEALTH_WORKER_MAX_AGE": "30",
                "LOG_LEVEL": "INFO",
                **self.settings,
            }.items()
        )
        self.env_file = self.workdir / "env"
        self.env_file.write_text(env + "\n")
        self.override = self.workdir / "compose.test.json"
        self.override.write_text(json.dumps(self.override_config(), indent=2))

    def write_ses_config(self, **changes: Any) -> None:
        config = {
            "server_name": RELAY_NAME,
            "username": self.ses_user,
            "password": self.ses_password,
            "verified_domains": [DOMAIN],
            "max_rate": 0,
            "rate_window": 1,
        }
        path = self.ses_dir / "config.json"
        if path.exists():
            config.update(json.loads(path.read_text()))
        config.update(changes)
        # Atomically: the stand-in reads it for every message.
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(config))
        partial.replace(path)

    def override_config(self) -> dict[str, Any]:
        healthchecks = self.base_config()["services"]
        fast = {
            name: {
                "healthcheck": {
                    **healthchecks[name]["healthcheck"],
                    # compose.yaml's 10-60 s are for production; here a fault
                    # must show within seconds. The timeout is longer: on a
                    # shared, loaded test machine one Python start (which each
                    # check is) has taken 20-40 s.
                    "interval": "5s",
                    "timeout": "120s",
                    "start_period": "300s",
                }
            }
            for name in SERVICES
        }
        ca_mount = f"{self.ses_dir / 'ca.pem'}:/test-ca/ca.pem:ro"
        fast["postfix"].update(
            environment={"RELAY_TLS_CA_FILE": "/test-ca/ca.pem"}, volumes=[ca_mount]
        )
        # The web fetches the SNS signing certificate from the stand-in, whose
        # certificate the test CA signed.
        fast["web"].update(environment={"SSL_CERT_FILE": "/test-ca/ca.pem"}, volumes=[ca_mount])
        fast["ses"] = {
            "image": APP_IMAGE,
            "user": "root",
            "entrypoint": ["python3", "/stub/sesstand.py"],
            "restart": "unless-stopped",
            "volumes": [
                f"{self.ses_dir}:/ses",
                f"{ROOT / 'tests/sesstub.py'}:/stub/sesstub.py:ro",
                f"{HERE / 'sesstand.py'}:/stub/sesstand.py:ro",
            ],
            "networks": {"public": {"aliases": [RELAY_NAME, SNS_HOST]}},
            "healthcheck": {
                "test": ["CMD", "test", "-f", "/ses/ready"],
                "interval": "1s",
                "retries": 60,
            },
        }
        return {
            "services": fast,
            "secrets": {
                name: {"file": str(self.secrets_dir / name)}
                for name in (
                    "db_password",
                    "postfix_db_password",
                    "secret_key",
                    "metrics_token",
                    "ses_user",
                    "ses_pass",
                )
            },
        }

    def base_config(self) -> dict[str, Any]:
        """compose.yaml as docker-compose resolves it (without the override)."""
        result = self.compose("-f", str(ROOT / "compose.yaml"), "config", files=False)
        to_json = run(
            ["/usr/bin/python3", "-c", "import json,sys,yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
            input=result.stdout,
        )  # fmt: skip
        assert to_json.returncode == 0, to_json.stderr
        return json.loads(to_json.stdout)

    # --- driving compose ------------------------------------------------

    def compose(
        self,
        *args: str,
        files: bool = True,
        check: bool = True,
        timeout: float = 600,
        env_extra: dict[str, str] | None = None,
        **kw: Any,
    ) -> subprocess.CompletedProcess[str]:
        base = [
            COMPOSE,
            "--project-directory",
            str(ROOT),
            "-p",
            self.project,
            "--env-file",
            str(self.env_file),
        ]
        if files:
            base += ["-f", str(ROOT / "compose.yaml"), "-f", str(self.override)]
        # Variables in the environment win over the env file, as for an operator.
        env = {**self.engine.env, "COMPOSE_INTERACTIVE_NO_CLI": "1", **(env_extra or {})}
        result = run([*base, *args], env=env, timeout=timeout, **kw)
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker-compose {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        return result

    def up(self, *args: str) -> None:
        self.compose("up", "-d", "--no-build", "ses")
        wait_until("the SES stand-in", lambda: (self.ses_dir / "ready").exists(), 60)
        self.compose("up", "-d", "--no-build", *args, timeout=900)
        self.wait_healthy()

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "-t", "20", check=False, timeout=300)

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()

    def container(self, service: str) -> str:
        ids = self.containers(service)
        assert len(ids) == 1, (service, ids)
        return ids[0]

    def inspect(self, *ids: str) -> list[dict[str, Any]]:
        return json.loads(self.engine.docker("inspect", *ids).stdout)

    def health(self, service: str) -> list[str]:
        states = self.inspect(*self.containers(service))
        return [s["State"].get("Health", {}).get("Status", s["State"]["Status"]) for s in states]

    def health_log(self, service: str) -> str:
        """Docker's record of the service's last healthchecks: start, seconds taken, exit, output."""
        lines = []
        for state in self.inspect(*self.containers(service)):
            for check in state["State"].get("Health", {}).get("Log", []):
                lines.append(
                    f"{service}: {check['Start'][11:19]}-{check['End'][11:19]} exit {check['ExitCode']}"
                    f" {check['Output'].strip()[:300]!r}"
                )
        return "\n".join(lines)

    def wait_healthy(self, *services: str, within: float = 600) -> None:
        wanted = services or SERVICES

        def all_healthy() -> bool:
            return all(set(self.health(s)) == {"healthy"} for s in wanted)

        wait_until(
            "every service healthy",
            all_healthy,
            within,
            every=1,
            detail=lambda: (
                "\n".join(f"{s}: {self.health(s)}" for s in wanted) + "\n" + self.logs(tail=40)
            ),
        )

    def logs(self, *services: str, tail: int | None = None) -> str:
        args = ["logs", "--no-color"] + ([f"--tail={tail}"] if tail else [])
        result = self.compose(*args, *services, check=False)
        return result.stdout + result.stderr

    def exec(
        self,
        service: str,
        *command: str,
        user: str | None = None,
        check: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        args = ["exec", "-T"] + (["--user", user] if user else []) + [service, *command]
        return self.compose(*args, check=check, timeout=timeout)

    def shell(self, code: str) -> str:
        """Python in the web container with Django set up (`listkeeper shell -c`)."""
        return self.exec("web", "listkeeper", "shell", "-c", code).stdout

    def import_aliases(self, path: Path) -> subprocess.CompletedProcess[str]:
        # As docs/migration.md step 2 says.
        return self.compose(
            "run", "--rm", "-v", f"{path}:/import/virtual_aliases.cf:ro",
            "web", "listkeeper", "import-aliases", "/import/virtual_aliases.cf",
        )  # fmt: skip

    # --- mail in, mail out ------------------------------------------------

    def accept_unauthenticated(self) -> None:
        """Members' posts that fail DMARC go out too (the list's setting).

        These tests are about the deployment; what the test senders' domains
        publish in DNS here is not theirs to depend on.
        """
        self.shell(
            "from listkeeper.lists.models import MailingList;"
            " MailingList.objects.update(unauthenticated_action='accept')"
        )

    def post(self, sender: str, subject: str, port: int | None = None) -> str:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = LIST
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="example.net")
        msg.set_content(f"{subject}\n\nSent through the published SMTP port.\n")
        with smtplib.SMTP("127.0.0.1", port or self.smtp_port, timeout=60) as smtp:
            smtp.send_message(msg)
        return str(msg["Message-ID"])

    def received(self) -> list[dict[str, Any]]:
        path = self.ses_dir / "messages.jsonl"
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        # The last line may be half written.
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def replies(self) -> list[dict[str, Any]]:
        """The stand-in's refusals after DATA (554 unverified, 454 throttled)."""
        path = self.ses_dir / "replies.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def copies(self, subject: str) -> Counter[tuple[str, str]]:
        """(Message-ID, recipient) -> how often the stand-in accepted it, for one post."""
        counts: Counter[tuple[str, str]] = Counter()
        for m in self.received():
            if subject in m["subject"]:
                for rcpt in m["rcpt_tos"]:
                    counts[(m["message_id"], rcpt.lower())] += 1
        return counts

    def recipients(self, subject: str) -> Counter[str]:
        return Counter(rcpt for (_, rcpt), n in self.copies(subject).items() for _ in range(n))

    @staticmethod
    def body(message: dict[str, Any]) -> bytes:
        return base64.b64decode(message["data"])

    def http(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}{path}", data=data, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def ledger_backlog(self) -> tuple[int, int]:
        """(deliveries not done, ledger rows still waiting or claimed)."""
        out = self.shell(
            "from listkeeper.delivery.models import Delivery, Recipient;"
            " print(Delivery.objects.exclude(state='done').count(),"
            " Recipient.objects.filter(state__in=['pending', 'claimed']).count())"
        )
        deliveries, recipients = out.split()[-2:]
        return int(deliveries), int(recipients)

    def postfix_queue(self) -> list[str]:
        out = self.exec("postfix", "postqueue", "-c", "/etc/postfix", "-j", check=False).stdout
        return [line for line in out.splitlines() if line.strip()]
