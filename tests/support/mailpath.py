"""The whole mail path for e2e tests: the `postfix` and `ses` fixtures (tests/mailfixtures.py)
plus our LMTP server where Postfix delivers list mail and a worker handing copies back.

    def test_it_...(mailpath): mailpath.post(...); mailpath.ses.wait_for(n)
"""

from __future__ import annotations

import json
import smtplib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from django.conf import settings

from listkeeper.delivery.models import Delivery, JobState
from listkeeper.lib.addresses import parse
from listkeeper.lists import services
from listkeeper.lists.models import MailingList
from listkeeper.lmtp.handler import LMTPHandler
from listkeeper.lmtp.server import protocol
from tests.support.servers import ServerThread
from tests.support.worker import WorkerThread, wait_for

DOMAIN = "lists.example.org"


@dataclass
class MailPath:
    postfix: Any
    ses: Any
    worker: WorkerThread | None = None

    def start_worker(self, **kwargs: Any) -> WorkerThread:
        self.worker = WorkerThread(settings.REINJECT_HOST[1], **kwargs).start()
        return self.worker

    def make_list(self, name: str = "community", members: int = 5, **changes: Any) -> MailingList:
        ml = services.create_list(
            name, settings.LISTKEEPER_DOMAIN, actor="test", display_name=name.capitalize()
        )
        if changes:
            services.update_list(ml, actor="test", **changes)
        services.bulk_subscribe(
            ml, [parse(f"{name}.m{i}@example.net") for i in range(members)], actor="test"
        )
        return ml

    def post(
        self,
        to: str,
        sender: str = "alice@example.com",
        subject: str = "Hello",
        body: str = "Hello, everyone.\n",
        author: str = "Alice Example",
    ) -> EmailMessage:
        """Send through Postfix's public smtpd, as a poster's mail server would."""
        msg = EmailMessage()
        msg["From"] = f"{author} <{sender}>"
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = f"<{subject.replace(' ', '.')}.{id(msg)}@example.com>"
        msg.set_content(body)
        with smtplib.SMTP(*settings.SMTP_LISTEN, timeout=30) as client:
            client.send_message(msg, from_addr=sender, to_addrs=[to])
        return msg

    def flush(self) -> None:
        """Ask Postfix to retry its deferred mail now instead of minutes from now."""
        subprocess.run(
            ["postqueue", "-c", str(self.postfix.config_dir), "-f"], check=True, timeout=30
        )

    def queued(self) -> list[dict[str, Any]]:
        out = subprocess.run(
            ["postqueue", "-c", str(self.postfix.config_dir), "-j"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def wait_delivered(
        self, ml: MailingList, count: int = 1, timeout: float = 60
    ) -> list[Delivery]:
        """Until `count` deliveries of the list's posts have been handed to Postfix."""

        def done() -> bool:
            return (
                Delivery.objects.filter(post__mailing_list=ml, state=JobState.DONE).count() >= count
            )

        wait_for(done, timeout, what=f"{count} deliveries to {ml.address}")
        return list(Delivery.objects.filter(post__mailing_list=ml).order_by("id"))

    def copies_to(self, rcpt: str) -> list[Any]:
        return [m for m in self.ses.messages if rcpt in m.rcpt_tos]


def parsed(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.SMTP).parsebytes(data)  # type: ignore[return-value]


@pytest.fixture
def lmtpd(postfix: Any, transactional_db: None) -> Iterator[ServerThread]:
    handler = LMTPHandler()
    host, port = settings.LMTP_LISTEN
    server = ServerThread(lambda: protocol(handler), host=host, port=port).start()
    yield server
    server.stop()
    handler.shutdown()


@pytest.fixture
def mailpath(postfix: Any, ses: Any, lmtpd: ServerThread) -> Iterator[MailPath]:
    path = MailPath(postfix, ses)
    yield path
    if path.worker is not None:
        path.worker.stop()
