"""Each message to -request and -owner is stored exactly once, by the mail layer."""

from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import Role
from listkeeper.mail.models import InboundKind, InboundMessage

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = (
    b"From: Alice <alice@example.com>\r\nTo: community-request@lists.example.org\r\n"
    b"Subject: help\r\nMessage-ID: <one@example.com>\r\n\r\nhelp\r\n"
)


def test_it_keeps_one_row_per_message_to_request_and_owner(community, lmtp_server) -> None:
    services.subscribe(community, "owner@example.org", actor="test", role=Role.OWNER)
    client = lmtp_server.connect()

    for rcpt in ("community-request@lists.example.org", "community-owner@lists.example.org"):
        assert client.send("alice@example.com", [rcpt], MESSAGE)[0].startswith("250")

    rows = InboundMessage.objects.order_by("id")
    assert [(r.kind, r.recipient) for r in rows] == [
        (InboundKind.REQUEST, "community-request@lists.example.org"),
        (InboundKind.OWNER, "community-owner@lists.example.org"),
    ]
    assert [r.result for r in rows] == ["help sent to alice@example.com", "forwarded to 1 owner(s)"]
