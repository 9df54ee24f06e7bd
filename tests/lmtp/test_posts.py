"""The LMTP edge with the real mail pipeline behind it."""

from __future__ import annotations

import pytest

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.mail.models import InboundKind, InboundMessage, Post, PostStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_accepts_a_members_post_with_its_delivery_committed_before_the_reply(
    community, lmtp_server
) -> None:
    services.subscribe(community, "alice@example.com", actor="test")
    services.subscribe(community, "bob@example.net", actor="test")
    message = b"From: Alice <alice@example.com>\r\nTo: community@lists.example.org\r\nSubject: Hi\r\n\r\nHello.\r\n"

    reply = lmtp_server.connect().send(
        "alice@example.com", ["community@lists.example.org"], message
    )

    assert reply[0].startswith("250")
    post = Post.objects.get()
    assert post.status == PostStatus.ACCEPTED
    assert sorted(Delivery.objects.get(post=post).recipients.values_list("email", flat=True)) == [
        "alice@example.com",
        "bob@example.net",
    ]


def test_it_holds_a_message_nobody_can_parse_and_keeps_serving(community, lmtp_server) -> None:
    client = lmtp_server.connect()
    garbage = b"\x00\xff\xfe not a header at all\r\n\r\n\x80\x81\x82\r\n" * 3

    assert client.send("someone@example.com", ["community@lists.example.org"], garbage)[
        0
    ].startswith("250")
    assert client.send("someone@example.com", ["community-request@lists.example.org"], garbage)[
        0
    ].startswith("250")

    post = Post.objects.get()
    assert post.status == PostStatus.HELD and post.reason
    assert not Delivery.objects.filter(post=post).exists()
    assert InboundMessage.objects.filter(kind=InboundKind.REQUEST).exists()
