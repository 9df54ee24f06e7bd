"""Posts, ledger rows, delivery reports and SNS messages for the feedback tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from listkeeper.delivery.ledger import enqueue_post
from listkeeper.delivery.models import Delivery, Recipient
from listkeeper.lib import tokens
from listkeeper.lists.models import MailingList, RouteKind
from listkeeper.mail.models import InboundKind, InboundMessage, Post, PostStatus

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
        mailing_list=ml,
        sender="alice@example.org",
        subject=subject,
        raw=b"x",
        status=PostStatus.ACCEPTED,
    )
    return enqueue_post(post, b"Subject: x\r\n\r\nx\r\n", ml.suffixed(RouteKind.BOUNCES))


def ledger_row(delivery: Delivery, email: str) -> Recipient:
    return delivery.recipients.get(email=email)


def verp_address(ml: MailingList, recipient: Recipient) -> str:
    return f"{ml.local_part}-bounces+{tokens.verp_token(recipient.id)}@{ml.domain}"


def store_report(ml: MailingList, name: str, recipient: Recipient | None = None) -> InboundMessage:
    """A delivery report from tests/data/dsn as LMTP stores it, to the VERP address when given."""
    raw = (DSN_DIR / name).read_bytes()
    if recipient is not None:
        address = verp_address(ml, recipient)
        raw = raw.replace(b"XVERPTOKENX", tokens.verp_token(recipient.id).encode())
    else:
        address = ml.suffixed(RouteKind.BOUNCES)
    return InboundMessage.objects.create(
        mailing_list=ml, kind=InboundKind.BOUNCE, recipient=address, sender="", raw=raw
    )


class FakeSns:
    """Serves the test certificate to the verifier and records what it fetched."""

    def __init__(self) -> None:
        self.fetched: list[str] = []
        self.opened: list[str] = []

    def fetch_certificate(self, url: str) -> bytes:
        from tests.support.sns_signing import CERT_URL, key_and_certificate

        self.fetched.append(url)
        if url != CERT_URL:
            raise OSError(f"no certificate at {url}")
        return key_and_certificate()[1]

    def open_url(self, url: str) -> bytes:
        self.opened.append(url)
        return b"<ConfirmSubscriptionResponse/>"


def post_sns(client, message: dict) -> object:
    import json

    return client.post(
        "/hooks/ses/",
        data=json.dumps(message),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=message.get("Type", ""),
    )


@pytest.fixture
def fake_sns(monkeypatch, settings) -> FakeSns:
    from listkeeper.feedback import sns
    from tests.support.sns_signing import TOPIC

    fake = FakeSns()
    monkeypatch.setattr(sns, "fetch_certificate", fake.fetch_certificate)
    monkeypatch.setattr(sns, "open_url", fake.open_url)
    monkeypatch.setattr(sns, "_certificates", {})
    settings.SES_SNS_TOPIC_ARNS = [TOPIC]
    return fake
