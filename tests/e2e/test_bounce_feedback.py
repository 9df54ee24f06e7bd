"""Bounces and complaints end to end: real Postfix, the SES stand-in, DSNs back over LMTP.

A copy SES refuses for one member comes back from Postfix as a delivery report
to that copy's VERP address, through LMTP, and disables that member only. A
complaint SES reports over SNS keeps the member out of the next post.
"""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from listkeeper.delivery.ledger import enqueue_post
from listkeeper.delivery.models import Delivery, RecipientState
from listkeeper.feedback import dsn
from listkeeper.feedback.models import DeliveryEvent, EventKind
from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.models import (
    InboundKind,
    InboundMessage,
    Post,
    PostStatus,
    Status,
    Subscription,
    Suppression,
)
from listkeeper.lists.routing import resolve
from tests.feedback.conftest import fake_sns, post_sns  # noqa: F401 (fake_sns is a fixture)
from tests.feedback.sns_signing import complaint_event, notification, sign

pytestmark = pytest.mark.e2e

DOMAIN = "lists.example.org"
MEMBERS = ["alice@example.com", "bob@example.org", "carol@example.net"]


class _BounceLMTP:
    """Stores mail to NAME-bounces[+TOKEN] and processes it, as the LMTP server does."""

    async def handle_DATA(self, server, session, envelope) -> str:
        return await asyncio.to_thread(self._store, envelope)

    def _store(self, envelope) -> str:
        close_old_connections()
        replies = []
        for rcpt in envelope.rcpt_tos:
            route = resolve(rcpt)
            if route is None or route.kind != "bounces":
                replies.append(f"550 5.1.1 <{rcpt}>: not a bounce address")
                continue
            inbound = InboundMessage.objects.create(
                mailing_list=route.mailing_list,
                kind=InboundKind.BOUNCE,
                recipient=rcpt,
                sender="" if envelope.mail_from in (None, "<>") else envelope.mail_from,
                raw=envelope.original_content or b"",
            )
            dsn.process_inbound(inbound)
            replies.append("250 2.0.0 stored")
        return "\r\n".join(replies)


class _LMTPController(Controller):
    def factory(self):
        return LMTP(self.handler, enable_SMTPUTF8=True)


@pytest.fixture
def lmtp(postfix) -> Iterator[None]:
    host, port = settings.LMTP_LISTEN
    controller = _LMTPController(_BounceLMTP(), hostname=host, port=port)
    controller.start()
    yield
    controller.stop()


def hand_to_postfix(delivery: Delivery) -> None:
    """What the worker does with each ledger row: one copy, VERP envelope, via reinjection."""
    host, port = settings.REINJECT_HOST
    with smtplib.SMTP(host, port, timeout=30) as client:
        for row in delivery.recipients.all():
            sender = f"community-bounces+{tokens.verp_token(row.id)}@{DOMAIN}"
            copy = (
                f"From: Community <community@{DOMAIN}>\r\nTo: community@{DOMAIN}\r\n"
                f"Subject: [Community] {delivery.post.subject}\r\nList-Id: <community.{DOMAIN}>\r\n\r\n"
                "See you on Saturday.\r\n"
            )
            client.sendmail(sender, [row.email], copy.encode())
            row.state, row.sent_at = RecipientState.SENT, timezone.now()
            row.save(update_fields=["state", "sent_at"])


def new_post(ml, subject: str) -> Delivery:
    post = Post.objects.create(
        mailing_list=ml,
        sender="alice@example.com",
        subject=subject,
        raw=b"x",
        status=PostStatus.ACCEPTED,
    )
    return enqueue_post(post, b"", ml.suffixed("bounces"))


def wait_until(condition: Callable[[], bool], what: str, postfix, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{postfix.log_tail()}"
        time.sleep(0.2)


def status_of(email: str) -> str:
    return Subscription.objects.get(member__key=email).status


def test_it_disables_only_the_member_ses_refuses_permanently(
    postfix, ses, lmtp, transactional_db
) -> None:
    ml = services.create_list("community", DOMAIN, actor="test")
    for address in MEMBERS:
        services.subscribe(ml, address, actor="test")
    ses.reject_recipients = {"carol@example.net"}
    delivery = new_post(ml, "Saturday's meeting")

    hand_to_postfix(delivery)

    wait_until(
        lambda: status_of("carol@example.net") == Status.DISABLED, "carol to be disabled", postfix
    )
    accepted = sorted(r for m in ses.wait_for(2) for r in m.rcpt_tos)
    assert accepted == ["alice@example.com", "bob@example.org"]
    assert status_of("alice@example.com") == status_of("bob@example.org") == Status.ACTIVE
    assert Suppression.objects.filter(key="carol@example.net", bulk_only=False).exists()
    event = DeliveryEvent.objects.get()
    assert (event.kind, event.email, event.post_id) == (
        EventKind.HARD_BOUNCE,
        "carol@example.net",
        delivery.post_id,
    )
    assert "5.1.1" in Subscription.objects.get(member__key="carol@example.net").disabled_reason
    # It came back as Postfix's own delivery report, to carol's VERP address.
    report = InboundMessage.objects.get()
    carol = delivery.recipients.get(email="carol@example.net")
    assert report.recipient == f"community-bounces+{tokens.verp_token(carol.id)}@{DOMAIN}"
    assert report.sender == "" and b"message/delivery-status" in bytes(report.raw)

    following = new_post(ml, "Next week")
    assert sorted(following.recipients.values_list("email", flat=True)) == [
        "alice@example.com",
        "bob@example.org",
    ]


@pytest.mark.usefixtures("fake_sns")
def test_it_stops_mailing_a_member_who_complained_through_sns(
    postfix, ses, lmtp, client, transactional_db
) -> None:
    ml = services.create_list("community", DOMAIN, actor="test")
    for address in MEMBERS:
        services.subscribe(ml, address, actor="test")
    hand_to_postfix(new_post(ml, "Saturday's meeting"))
    assert len(ses.wait_for(3)) == 3

    response = post_sns(
        client, sign(notification(complaint_event(["bob@example.org"], form="eventType")))
    )

    assert response.status_code == 200
    assert status_of("bob@example.org") == Status.UNSUBSCRIBED
    ses.clear()
    following = new_post(ml, "Next week")
    assert sorted(following.recipients.values_list("email", flat=True)) == [
        "alice@example.com",
        "carol@example.net",
    ]
    hand_to_postfix(following)
    assert sorted(r for m in ses.wait_for(2) for r in m.rcpt_tos) == [
        "alice@example.com",
        "carol@example.net",
    ]
