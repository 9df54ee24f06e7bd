from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Role

MEMBERS = ["alice@example.com", "bob@example.org"]


@pytest.fixture
def ml(community) -> MailingList:
    for address in MEMBERS:
        services.subscribe(community, address, actor="test")
    services.subscribe(community, "owner@example.org", actor="test", role=Role.OWNER)
    return community


def make_message(
    subject: str = "Hello",
    body: str = "Hello there.\n",
    *,
    sender: str = "Alice <alice@example.com>",
    message_id: str | None = "<m1@example.com>",
    in_reply_to: str | None = None,
    references: str | None = None,
    date: datetime | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "community@lists.example.org"
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg.set_content(body)
    return msg.as_bytes()
