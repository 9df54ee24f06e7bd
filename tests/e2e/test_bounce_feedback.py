"""Bounces and complaints end to end, on the real mail path.

A post goes in through Postfix's public smtpd, our LMTP server and the worker,
out through Postfix to the SES stand-in. A copy SES refuses for one member
comes back as Postfix's delivery report to that copy's VERP address, through
LMTP again, and disables that member's subscription to that list only. A complaint SES reports over SNS
keeps the member out of the next post.
"""

from __future__ import annotations

import pytest

from listkeeper.feedback.models import DeliveryEvent, EventKind
from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.models import Status, Subscription, Suppression
from listkeeper.mail.models import InboundKind, InboundMessage, Post
from tests.support.feedback import post_sns
from tests.support.sns_signing import complaint_event, notification, sign
from tests.support.worker import wait_for

pytestmark = pytest.mark.e2e


def status_of(email: str) -> str:
    return Subscription.objects.get(member__key=email).status


def recipients_at_ses(path, subject: str) -> list[str]:
    return sorted(
        r for m in path.ses.messages if subject in m.message["Subject"] for r in m.rcpt_tos
    )


def test_it_disables_only_the_member_ses_refuses_permanently(mailpath) -> None:  # noqa: F811
    ml = mailpath.make_list(members=4)
    services.subscribe(ml, "alice@example.com", actor="test")
    mailpath.ses.reject_recipients = {"community.m1@example.net"}
    mailpath.start_worker()

    mailpath.post(ml.address, subject="Saturday's meeting")

    wait_for(
        lambda: status_of("community.m1@example.net") == Status.DISABLED, 60, "m1 to be disabled"
    )
    others = [
        "alice@example.com",
        "community.m0@example.net",
        "community.m2@example.net",
        "community.m3@example.net",
    ]
    wait_for(
        lambda: len(recipients_at_ses(mailpath, "Saturday")) == 4, 30, "the other copies at SES"
    )
    assert recipients_at_ses(mailpath, "Saturday") == others
    assert {status_of(a) for a in others} == {Status.ACTIVE}
    # One list's report disables that list only; nothing is suppressed site-wide.
    assert Suppression.objects.count() == 0
    assert (
        "5.1.1" in Subscription.objects.get(member__key="community.m1@example.net").disabled_reason
    )
    # It came back as Postfix's own delivery report, to m1's VERP address.
    post = Post.objects.get(mailing_list=ml)
    row = post.delivery.recipients.get(email="community.m1@example.net")
    report = InboundMessage.objects.get(kind=InboundKind.BOUNCE)
    assert report.recipient == f"community-bounces+{tokens.verp_token(row.id)}@{ml.domain}"
    assert report.sender == "" and b"message/delivery-status" in bytes(report.raw)
    assert report.processed is not None
    event = DeliveryEvent.objects.get()
    assert (event.kind, event.post_id, event.recipient_id) == (
        EventKind.HARD_BOUNCE,
        post.id,
        row.id,
    )

    mailpath.post(ml.address, subject="Next week")

    mailpath.wait_delivered(ml, 2)
    wait_for(lambda: len(recipients_at_ses(mailpath, "Next week")) == 4, 30, "the next post at SES")
    assert recipients_at_ses(mailpath, "Next week") == others


@pytest.mark.usefixtures("fake_sns")
def test_it_stops_mailing_a_member_who_complained_through_sns(mailpath, client) -> None:  # noqa: F811
    ml = mailpath.make_list(members=3)
    services.subscribe(ml, "alice@example.com", actor="test")
    mailpath.start_worker()
    mailpath.post(ml.address, subject="Saturday's meeting")
    wait_for(lambda: len(recipients_at_ses(mailpath, "Saturday")) == 4, 60, "the first post at SES")

    event = complaint_event(["community.m2@example.net"], form="eventType")
    response = post_sns(client, sign(notification(event)))

    assert response.status_code == 200
    assert status_of("community.m2@example.net") == Status.UNSUBSCRIBED
    mailpath.post(ml.address, subject="Next week")
    mailpath.wait_delivered(ml, 2)
    expected = ["alice@example.com", "community.m0@example.net", "community.m1@example.net"]
    wait_for(lambda: len(recipients_at_ses(mailpath, "Next week")) == 3, 30, "the next post at SES")
    assert recipients_at_ses(mailpath, "Next week") == expected
    assert (
        sorted(
            Post.objects.get(subject__contains="Next week").delivery.recipients.values_list(
                "email", flat=True
            )
        )
        == expected
    )
