"""A post already fanned out into the ledger, for the delivery tests."""

from __future__ import annotations

from listkeeper.delivery.ledger import enqueue_post
from listkeeper.delivery.models import Delivery
from listkeeper.lib.addresses import parse
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, RouteKind
from listkeeper.mail.models import Post, PostStatus

MESSAGE = (
    b'From: "Alice via Community" <community@lists.example.org>\r\n'
    b"To: community@lists.example.org\r\n"
    b"Subject: Hello all\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Hello.\r\n-- \r\nLeave: @@UNSUBSCRIBE_URL@@\r\n"
)


def post_to(ml: MailingList, members: int, message: bytes = MESSAGE) -> Delivery:
    services.bulk_subscribe(ml, [parse(f"m{i}@example.net") for i in range(members)], actor="test")
    post = Post.objects.create(
        mailing_list=ml,
        sender="alice@example.com",
        raw=message,
        subject="Hello all",
        status=PostStatus.ACCEPTED,
    )
    return enqueue_post(post, message, ml.suffixed(RouteKind.BOUNCES))
