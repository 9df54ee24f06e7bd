"""docs/migration.md rehearsed: from the static Postfix container to the compose
stack on the same host, while a client keeps posting a few messages a second.

The old container is the seed's Phase 1 (tests/compose/static-postfix/): a
static virtual_aliases.cf, relaying to the SES stand-in. The steps are the
page's: import the live alias file, swap port 25 in one command, drain the old
queue. Every message the client sent must reach every member exactly once,
through one path or the other, and the client may only ever have seen errors
it retried (a refused or dropped connection, a 4xx).

Left out with the fault tests by LISTKEEPER_COMPOSE_FAULTS=0.
"""

from __future__ import annotations

import re
import smtplib
import threading
import time
from collections import Counter
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from tests.compose.engine import HERE, POSTFIX_IMAGE
from tests.compose.stack import LIST, RELAY_NAME, Stack, free_port, members_file, wait_until
from tests.support.compose import LONG

pytestmark = [pytest.mark.compose, LONG]

SENDER = "alice@example.org"
MEMBERS = 12
# The old container relays the posts as their authors sent them.
SES_STAND_IN = {"verified_domains": ["lists.example.org", "example.org"]}
SUBJECT = re.compile(r"stream (\d{4})\b")


class Stream(threading.Thread):
    """A sending server: posts `rate` messages a second, retrying what SMTP lets it retry."""

    def __init__(self, port: int, rate: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.rate = rate
        self.accepted: list[int] = []
        self.retried: list[str] = []  # what a real MTA would have queued and retried
        self.failed: list[str] = []  # a 5xx: a real MTA bounces the post back to its author
        self.halt = threading.Event()

    def run(self) -> None:
        seq = 0
        while not self.halt.is_set():
            self.deliver(seq)
            seq += 1
            self.halt.wait(1 / self.rate)

    def deliver(self, seq: int) -> None:
        msg = EmailMessage()
        msg["From"] = SENDER
        msg["To"] = LIST
        msg["Subject"] = f"stream {seq:04d}"
        msg["Message-ID"] = make_msgid(domain="example.org")
        msg.set_content(f"Message {seq} of a steady stream.\n")
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
                    smtp.send_message(msg)
                self.accepted.append(seq)
                return
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                problem = f"{seq}: {code} {text!r}"
            except smtplib.SMTPResponseException as exc:
                code, problem = exc.smtp_code, f"{seq}: {exc.smtp_code} {exc.smtp_error!r}"
            except (OSError, smtplib.SMTPException) as exc:
                code, problem = 0, f"{seq}: {type(exc).__name__} {exc}"
            if code >= 500:
                self.failed.append(problem)
                return
            self.retried.append(problem)
            time.sleep(0.5)


def run_static(
    stack: Stack, name: str, aliases: Path, port: int | None, volumes_from: str = ""
) -> None:
    ca = stack.ses_dir / "ca.pem"
    args = [
        "run", "-d", "--name", name, "--network", f"{stack.project}_public",
        "-e", f"RELAY_NAME={RELAY_NAME}",
        "-v", f"{HERE / 'static-postfix'}:/static-bin:ro",
        "-v", f"{aliases}:/static/virtual_aliases.cf:ro",
        "-v", f"{ca}:/test-ca/ca.pem:ro",
        "-v", f"{stack.secrets_dir / 'ses_user'}:/run/secrets/ses_user:ro",
        "-v", f"{stack.secrets_dir / 'ses_pass'}:/run/secrets/ses_pass:ro",
        "--entrypoint", "/static-bin/entrypoint.sh",
    ]  # fmt: skip
    if port:
        args += ["-p", f"127.0.0.1:{port}:25"]
    if volumes_from:
        args += ["--volumes-from", volumes_from]
    stack.engine.docker(*args, POSTFIX_IMAGE)


def queue_files(stack: Stack, container: str) -> int:
    """Messages in a Postfix queue, counted as files (works on a stopped container's volume)."""
    out = stack.engine.docker(
        "run", "--rm", "--volumes-from", container, "--entrypoint", "sh", POSTFIX_IMAGE, "-c",
        "find /var/spool/postfix/incoming /var/spool/postfix/active /var/spool/postfix/deferred"
        " /var/spool/postfix/maildrop -type f 2>/dev/null | wc -l",
    ).stdout  # fmt: skip
    return int(out.split()[-1])


def answers_smtp(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def test_the_zero_downtime_migration_loses_and_doubles_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    port25 = free_port()  # "port 25" of the host in this rehearsal
    old = f"{stack.project}-postfix-static"
    live = tmp_path / "live-aliases.cf"
    members = [m.lower() for m in members_file(live, MEMBERS, SENDER)]
    run_static(stack, old, live, port25)
    try:
        wait_until("the old container answering", lambda: answers_smtp(port25), within=120)
        stream = Stream(port25)
        stream.start()
        wait_until("posts through the old path", lambda: len(stream.accepted) >= 5, within=60)

        # Step 2: import the live file, copied out of the old container.
        copied = tmp_path / "virtual_aliases.cf"
        stack.engine.docker("cp", f"{old}:/etc/postfix/virtual_aliases.cf", str(copied))
        assert stack.import_aliases(copied).returncode == 0
        # The old container relayed whatever it got; imported lists hold posts
        # they cannot authenticate until their owners choose (docs/migration.md).
        stack.accept_unauthenticated()

        # SES refuses the old container's relays for a moment (454, as when
        # throttled), so that it stops with mail in its queue: step 5 drains it.
        stack.write_ses_config(max_rate=1, rate_window=3600)
        wait_until("mail waiting in the old queue", lambda: queue_files(stack, old) >= 2, 120)

        # Step 4, same host: stop the old one and publish the new Postfix on port 25.
        before_switch = len(stream.accepted)
        switched = time.monotonic()
        stack.engine.docker("stop", old)
        # SES takes mail again as soon as the old one is stopped with mail in
        # its queue: what the new Postfix relays from its first second must not
        # be refused and wait out Postfix's retry backoff (seen: one post
        # deferred for more than the 300 s the test waits below).
        stack.write_ses_config(max_rate=0)
        stack.compose(
            "up", "-d", "--no-build", "--no-deps", "postfix",
            env_extra={"SMTP_PUBLISH": f"127.0.0.1:{port25}"},
        )  # fmt: skip
        stack.wait_healthy("postfix")
        reopened = wait_until("port 25 answering again", lambda: answers_smtp(port25), within=120)
        closed_for = time.monotonic() - switched
        assert reopened
        wait_until(
            "posts through the new path",
            lambda: len(stream.accepted) >= before_switch + 15,
            within=120,
        )
        stream.halt.set()
        stream.join(timeout=120)

        # Step 5: drain the old queue from a container that does not publish port 25.
        left = queue_files(stack, old)
        assert left > 0
        drain = f"{old}-drain"
        run_static(stack, drain, live, None, volumes_from=old)

        def flushed_and_empty() -> bool:
            stack.engine.docker("exec", drain, "postqueue", "-f", check=False)
            return queue_files(stack, old) == 0

        wait_until("the old queue drained", flushed_and_empty, within=300, every=5)

        expected = {(seq, m) for seq in stream.accepted for m in members}

        def arrived() -> Counter[tuple[int, str]]:
            counts: Counter[tuple[int, str]] = Counter()
            for m in stack.received():
                found = SUBJECT.search(m["subject"])
                if found:
                    for rcpt in m["rcpt_tos"]:
                        counts[(int(found.group(1)), rcpt.lower())] += 1
            return counts

        wait_until(
            f"{len(expected)} copies of {len(stream.accepted)} posts",
            lambda: expected <= set(arrived()),
            within=300,
            every=2,
            detail=lambda: f"missing {sorted(expected - set(arrived()))[:10]}",
        )
        counts = arrived()
        assert stream.failed == [], stream.failed
        assert {k: n for k, n in counts.items() if n > 1} == {}
        assert set(counts) == expected
        print(
            f"\nmigration rehearsal: {len(stream.accepted)} posts, port closed for"
            f" {closed_for:.1f}s, {len(stream.retried)} retries, {left} left in the old queue"
        )
    finally:
        stack.engine.docker("rm", "-f", old, f"{old}-drain", check=False)
