"""The compose deployment, built and run: mail in through the published port 25,
out to the SES stand-in; the web through its published port; SNS feedback.

One stack for the module (conftest's `stack`); the tests that change it
(credential rotation) leave it working.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.compose.stack import LIST, SERVICES, TOPIC, Stack, wait_until
from tests.support.sns_signing import bounce_event, notification, sign

pytestmark = pytest.mark.compose

MEMBERS = 40
SENDER = "alice@example.org"


def deliver(stack: Stack, members: list[str], subject: str) -> dict[tuple[str, str], int]:
    """Post through the published port 25; wait until every member's copy arrived."""
    stack.post(SENDER, subject)
    expected = {m.lower() for m in members}
    wait_until(
        f"{len(expected)} copies of {subject!r} at the SES stand-in",
        lambda: expected <= set(stack.recipients(subject)),
        within=180,
        detail=lambda: (
            "\n".join(stack.postfix_queue())
            + f"\nmissing: {sorted(expected - set(stack.recipients(subject)))}\n"
            + stack.logs("postfix", "worker", "lmtpd", tail=60)
        ),
    )
    return dict(stack.copies(subject))


@pytest.fixture(scope="module")
def first_post(stack: Stack, members: list[str]) -> dict[tuple[str, str], int]:
    return deliver(stack, members, "Saturday's meeting")


def test_every_service_is_healthy_and_migrate_exited_0(stack: Stack) -> None:
    for service in SERVICES:
        assert stack.health(service) == ["healthy"], service
    (migrate,) = stack.inspect(*stack.compose("ps", "-q", "migrate").stdout.split())

    assert migrate["State"]["Status"] == "exited"
    assert migrate["State"]["ExitCode"] == 0


def test_only_the_smtp_and_web_ports_are_published(stack: Stack) -> None:
    published: dict[str, list[str]] = {}
    for service in (*SERVICES, "migrate"):
        for container in stack.inspect(*stack.compose("ps", "-q", service).stdout.split()):
            bindings = container["HostConfig"].get("PortBindings") or {}
            ports = container["NetworkSettings"].get("Ports") or {}
            published[service] = sorted(
                {p for p, b in {**bindings, **ports}.items() if b}  # b: the host side, if any
            )

    assert {s: p for s, p in published.items() if p} == {
        "postfix": ["25/tcp"],
        "web": ["8000/tcp"],
    }


def test_every_member_gets_their_personalised_copy_exactly_once(
    stack: Stack, members: list[str], first_post: dict[tuple[str, str], int]
) -> None:
    assert set(first_post.values()) == {1}
    assert {rcpt for _, rcpt in first_post} == {m.lower() for m in members}
    copies = [m for m in stack.received() if "Saturday's meeting" in m["subject"]]
    assert all(len(m["rcpt_tos"]) == 1 for m in copies)  # personalised: one each
    for m in copies:
        text = stack.body(m).decode(errors="replace")
        # Each copy carries its own recipient's one-click unsubscribe link.
        assert re.search(r"^List-Unsubscribe-Post: List-Unsubscribe=One-Click", text, re.M), text
        assert m["tls"] is True and m["user"] == stack.ses_user
    unsubscribe_links = {
        re.search(r"^List-Unsubscribe: (.+)$", stack.body(m).decode(), re.M).group(1)  # type: ignore[union-attr]
        for m in copies
    }
    assert len(unsubscribe_links) == len(members)


def test_nothing_is_left_in_the_ledger_or_postfix_queue(
    stack: Stack, first_post: dict[tuple[str, str], int]
) -> None:
    wait_until("an empty Postfix queue", lambda: stack.postfix_queue() == [], within=60)
    assert stack.ledger_backlog() == (0, 0)


def test_management_commands_work_through_exec(stack: Stack, first_post: Any) -> None:
    result = stack.exec("web", "listkeeper", "deliveries")

    assert result.returncode == 0, result.stderr
    assert "Saturday's meeting" in result.stdout or LIST in result.stdout, result.stdout


def test_the_web_answers_through_its_published_port(stack: Stack) -> None:
    status, body = stack.http("/healthz")

    assert status == 200, body
    health = json.loads(body)
    assert health["checks"]["database"]["ok"] is True
    status, page = stack.http("/")
    assert status in (200, 302), page[:500]


def test_an_sns_bounce_posted_to_the_web_port_is_verified_and_acted_on(
    stack: Stack, members: list[str]
) -> None:
    bounced = members[-1]
    message = sign(notification(bounce_event([bounced])), "2")
    forged = {
        **sign(notification(bounce_event([members[-2]])), "2"),
        "Signature": message["Signature"],
    }
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "X-Amz-Sns-Message-Type": "Notification",
    }

    status, body = stack.http("/hooks/ses/", json.dumps(message).encode(), headers)
    refused, _ = stack.http("/hooks/ses/", json.dumps(forged).encode(), headers)

    assert status == 200, body
    assert refused != 200
    statuses = json.loads(
        stack.shell(
            "import json; from listkeeper.lists.models import Subscription;"
            " print(json.dumps(dict(Subscription.objects.values_list('member__key', 'status'))))"
        ).splitlines()[-1]
    )
    assert statuses[bounced] == "disabled"
    assert statuses[members[-2]] == "active"
    assert TOPIC  # the topic the stack allows (SES_SNS_TOPIC_ARNS)


def test_no_secret_shows_in_inspect_environments_images_or_logs(
    stack: Stack, first_post: Any
) -> None:
    values = {
        p.name: p.read_text().strip()
        for p in stack.secrets_dir.iterdir()
        if p.name != "ses_user"  # an access key id: a name, not a secret
    }
    assert set(values) >= {"db_password", "postfix_db_password", "secret_key", "ses_pass"}
    containers = [  # the running ones (migrate has exited)
        c["Id"]
        for c in stack.inspect(*stack.compose("ps", "-q").stdout.split())
        if c["State"]["Running"]
    ]
    inspected = stack.engine.docker("inspect", *containers).stdout
    images = {c["Image"] for c in stack.inspect(*containers)}
    image_records = stack.engine.docker("image", "inspect", *images).stdout
    history = "".join(
        stack.engine.docker("history", "--no-trunc", image).stdout for image in images
    )
    environments = ""
    for container in containers:
        # Every process in every container, read as root.
        environments += stack.engine.docker(
            "exec", "--user", "root", container, "sh", "-c",
            "for e in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $e; done 2>/dev/null; true",
        ).stdout  # fmt: skip
    logs = stack.logs()

    assert "DATABASE_PASSWORD_FILE=/run/secrets/db_password" in environments  # we did look
    for where, text in {
        "docker inspect": inspected,
        "image config": image_records,
        "image history": history,
        "process environments": environments,
        "logs": logs,
    }.items():
        leaked = [name for name, value in values.items() if value in text]
        assert not leaked, f"{leaked} found in {where}"


def receiving(stack: Stack) -> set[str]:
    """The members the list still sends to (a bounce test above disables one)."""
    out = stack.shell(
        "import json; from listkeeper.delivery.ledger import receiving;"
        " from listkeeper.lists.models import MailingList, Subscription;"
        " ml = MailingList.objects.get();"
        " print(json.dumps(list(Subscription.objects.filter(receiving(ml.id))"
        ".values_list('member__email', flat=True))))"
    )
    return {m.lower() for m in json.loads(out.splitlines()[-1])}


def test_rotated_ses_credentials_keep_mail_flowing(stack: Stack, members: list[str]) -> None:
    # docs/operations.md, "Rotating SES credentials". SES (the stand-in) takes
    # the IAM user's second access key as well as the first.
    old = [stack.ses_user, stack.ses_password]
    new = ["AKIA" + "ROTATED" + stack.ses_user[11:], "rotated-" + stack.ses_password[:16]]
    stack.write_ses_config(also_accept=[new])
    # Written in place, then Postfix recreated (compose does not recreate a
    # container for a changed secret file on its own: docs/deployment.md).
    (stack.secrets_dir / "ses_user").write_text(new[0])
    (stack.secrets_dir / "ses_pass").write_text(new[1])
    in_flight = "During the rotation"
    stack.post(SENDER, in_flight)
    stack.compose("up", "-d", "--no-build", "--no-deps", "--force-recreate", "postfix")
    stack.wait_healthy("postfix")
    # The old key is deactivated: only the new one works from now on.
    stack.write_ses_config(username=new[0], password=new[1], also_accept=[])
    stack.ses_user, stack.ses_password = new
    after = "After the rotation"
    expected = receiving(stack)
    delivered = deliver(stack, sorted(expected), after)
    during = wait_until(
        f"every copy of {in_flight!r}",
        lambda: expected <= set(stack.recipients(in_flight)) and stack.copies(in_flight),
        within=180,
    )

    for copies in (delivered, during):
        assert {rcpt for _, rcpt in copies} == expected
    # Sent after the rotation: exactly once.
    assert set(delivered.values()) == {1}
    # In flight while Postfix was recreated: a copy SES had taken as Postfix
    # stopped, before Postfix recorded it, goes again after the restart (the
    # at-least-once boundary, docs/postfix.md); at most one per connection
    # then open (RELAY_CONCURRENCY, 20), never more than twice.
    twice = [key for key, n in during.items() if n > 1]
    assert len(twice) <= 20 and set(during.values()) <= {1, 2}, twice
    assert {m["user"] for m in stack.received() if after in m["subject"]} == {new[0]}
    assert "SASL authentication failed" not in stack.logs("postfix")
    assert old != new
