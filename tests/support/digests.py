"""Posts and members as the digest tests set them up."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Subscription
from listkeeper.mail.models import Post
from listkeeper.mail.process import handle_post


def post(ml: MailingList, subject: str, body: str = "Hello.", author: str = "alice") -> Post:
    raw = (
        f'From: "{author.title()}" <{author}@example.com>\r\n'
        f"To: {ml.address}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()
    return handle_post(ml, raw, f"{author}@example.com")


def member(ml: MailingList, address: str, delivery: str = "regular") -> Subscription:
    sub = services.subscribe(ml, address, actor="test").subscription
    if delivery != "regular":
        sub.delivery = delivery  # a member who chose it long ago
        sub.save(update_fields=["delivery"])
    return sub


def parsed(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(bytes(data), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg
