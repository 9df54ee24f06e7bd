from __future__ import annotations

from pathlib import Path

import pytest

from listkeeper.delivery.ledger import enqueue_post
from listkeeper.delivery.models import Delivery, Recipient
from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.models import InboundKind, InboundMessage, MailingList, Post, PostStatus

DSN_DIR = Path(__file__).resolve().parent.parent / "data" / "dsn"

MEMBERS = [
    "bystander@example.org",
    "carol@example.net",
    "dave@gmail.com",
    "erin@example.com",
    "frank@contoso.com",
    "grace@yahoo.com",
    "heidi@mail.example.com",
    "ivan@corp.example.com",
    "judy@yahoo.com",
]


def make_post(ml: MailingList, subject: str = "Saturday's meeting") -> Delivery:
    """An accepted post with its ledger, as the mail pipeline leaves it."""
    post = Post.objects.create(
        mailing_list=ml, sender="alice@example.org", subject=subject, raw=b"x", status=PostStatus.ACCEPTED
    )
    return enqueue_post(post, b"Subject: x\r\n\r\nx\r\n", ml.suffixed("bounces"))


def ledger_row(delivery: Delivery, email: str) -> Recipient:
    return delivery.recipients.get(email=email)


def verp_address(ml: MailingList, recipient: Recipient) -> str:
    return f"{ml.local_part}-bounces+{tokens.verp_token(recipient.id)}@{ml.domain}"


def store_report(
    ml: MailingList, name: str, recipient: Recipient | None = None
) -> InboundMessage:
    """A delivery report from tests/data/dsn as LMTP stores it, to the VERP address when given."""
    raw = (DSN_DIR / name).read_bytes()
    if recipient is not None:
        address = verp_address(ml, recipient)
        raw = raw.replace(b"XVERPTOKENX", tokens.verp_token(recipient.id).encode())
    else:
        address = ml.suffixed("bounces")
    return InboundMessage.objects.create(
        mailing_list=ml, kind=InboundKind.BOUNCE, recipient=address, sender="", raw=raw
    )


@pytest.fixture
def members(community):
    for address in MEMBERS:
        services.subscribe(community, address, actor="test")
    return community


@pytest.fixture
def delivery(members) -> Delivery:
    return make_post(members)
