"""Forged delivery reports change nothing; genuine ones touch only their own list.

Reports are sent as an attacker would: MAIL FROM:<> into Postfix's public
smtpd, to a LIST-bounces address, and reach our LMTP server like any report.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from email.utils import parseaddr

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from listkeeper.feedback import probes
from listkeeper.feedback.models import BounceProbe, DeliveryEvent, ProbeState
from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Role, Status, Subscription, Suppression
from listkeeper.mail.models import InboundKind, InboundMessage, Post
from tests.support.dsn import delivery_report
from tests.support.worker import wait_for

pytestmark = pytest.mark.e2e

VICTIM = "community.m1@example.net"


@pytest.fixture(autouse=True)
def _mail_into_the_ledger(settings):
    # Django's test set-up swaps in the locmem backend; the probes must take the real path.
    settings.EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"


def send_report(to: str, raw: bytes) -> None:
    """Into Postfix's public smtpd with the null sender, as any mail system's report comes."""
    with smtplib.SMTP(*settings.SMTP_LISTEN, timeout=30) as client:
        client.sendmail("", [to], raw)


def processed_reports(count: int) -> list[InboundMessage]:
    def done() -> bool:
        return (
            InboundMessage.objects.filter(kind=InboundKind.BOUNCE, processed__isnull=False).count()
            >= count
        )

    wait_for(done, 60, f"{count} delivery report(s) processed")
    return list(InboundMessage.objects.filter(kind=InboundKind.BOUNCE).order_by("id"))


def states(email: str) -> list[tuple[str, str, float]]:
    return sorted(
        (s.mailing_list.local_part, s.status, s.bounce_score)
        for s in Subscription.objects.filter(member__key=email).select_related("mailing_list")
    )


def two_lists(mailpath) -> tuple[MailingList, MailingList]:  # noqa: F811
    ml = mailpath.make_list(members=3)
    services.subscribe(ml, "alice@example.com", actor="test")  # the poster
    other = mailpath.make_list("parents", members=0)
    services.subscribe(other, VICTIM, actor="test")
    return ml, other


def copy_token(ml: MailingList, email: str) -> str:
    row = Post.objects.filter(mailing_list=ml).get().delivery.recipients.get(email=email)
    return tokens.verp_token(row.id)


def untouched() -> list[tuple[str, str, float]]:
    return [("community", Status.ACTIVE, 0.0), ("parents", Status.ACTIVE, 0.0)]


def test_it_ignores_a_forged_report_without_a_token(mailpath, client) -> None:  # noqa: F811
    ml, _ = two_lists(mailpath)
    services.subscribe(ml, "owner@example.org", actor="test", role=Role.OWNER)
    bounces = ml.suffixed("bounces")

    send_report(bounces, delivery_report(VICTIM, to=bounces))

    [report] = processed_reports(1)
    assert states(VICTIM) == untouched()
    assert Suppression.objects.count() == 0 and DeliveryEvent.objects.count() == 0
    assert report.sender == "" and report.recipient == bounces
    assert report.unproven == "sent to the plain bounce address, without a VERP token"
    # The owner sees it, with the reason, on the deliverability page.
    client.force_login(User.objects.create_user("owner", "owner@example.org", "x"))
    section = (
        client.get(f"/lists/{ml.id}/deliverability/").content.decode().split('id="unproven"')[1]
    )
    assert section.split("</tbody>")[0].count("<tr>") == 2  # the header row and the report
    assert f"{VICTIM}: hard 5.1.1, not acted on" in section
    assert "without a VERP token" in section


def test_it_ignores_a_report_with_a_tampered_token(mailpath) -> None:  # noqa: F811
    ml, _ = two_lists(mailpath)
    mailpath.start_worker()
    mailpath.post(ml.address, subject="Saturday")
    mailpath.wait_delivered(ml)
    token = copy_token(ml, VICTIM)
    tampered = token[:18] + ("a" if token[18] != "a" else "b") + token[19:]
    address = f"community-bounces+{tampered}@{ml.domain}"

    send_report(address, delivery_report(VICTIM, to=address))

    [report] = processed_reports(1)
    assert states(VICTIM) == untouched()
    assert Suppression.objects.count() == 0 and DeliveryEvent.objects.count() == 0
    assert "does not verify" in report.unproven


def test_it_ignores_a_valid_token_naming_another_member(mailpath) -> None:  # noqa: F811
    ml, _ = two_lists(mailpath)
    mailpath.start_worker()
    mailpath.post(ml.address, subject="Saturday")
    mailpath.wait_delivered(ml)
    # m0 received a copy, so holds a valid token of its own.
    address = f"community-bounces+{copy_token(ml, 'community.m0@example.net')}@{ml.domain}"

    send_report(address, delivery_report(VICTIM, to=address))

    [report] = processed_reports(1)
    assert states(VICTIM) == untouched()
    assert states("community.m0@example.net") == [("community", Status.ACTIVE, 0.0)]
    assert Suppression.objects.count() == 0 and DeliveryEvent.objects.count() == 0
    assert report.unproven == (
        f"reports {VICTIM}, but its VERP token was made for community.m0@example.net"
    )


def test_it_disables_only_the_list_whose_copy_ses_refused(mailpath) -> None:  # noqa: F811
    ml, _ = two_lists(mailpath)
    mailpath.ses.reject_recipients = {VICTIM}
    mailpath.start_worker()

    mailpath.post(ml.address, subject="Saturday")

    [report] = processed_reports(1)
    # Postfix's own report, to the VERP address of the copy SES refused.
    assert report.recipient == f"community-bounces+{copy_token(ml, VICTIM)}@{ml.domain}"
    assert report.unproven == ""
    assert states(VICTIM) == [("community", Status.DISABLED, 0.0), ("parents", Status.ACTIVE, 0.0)]
    assert Suppression.objects.count() == 0
    assert DeliveryEvent.objects.get().email == VICTIM


def test_it_probes_before_disabling_for_the_bounce_score(mailpath) -> None:  # noqa: F811
    ml, _ = two_lists(mailpath)
    services.update_list(ml, actor="test", bounce_score_threshold=1.0)
    mailpath.start_worker()
    mailpath.post(ml.address, subject="Saturday")
    mailpath.wait_delivered(ml)
    mailpath.ses.wait_for(4)
    address = f"community-bounces+{copy_token(ml, VICTIM)}@{ml.domain}"

    # The member's mail system reports a full mailbox: the score reaches 1.
    mailpath.ses.reject_recipients = {VICTIM}
    send_report(
        address,
        delivery_report(
            VICTIM, to=address, status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full"
        ),
    )

    processed_reports(1)
    probe = BounceProbe.objects.get()
    assert (probe.email, probe.state) == (VICTIM, ProbeState.PENDING)
    # The probe left through Postfix, SES refused it, Postfix reported that to the probe's address.
    [_, probe_report] = processed_reports(2)
    assert probe_report.recipient == probes.probe_address(probe)
    probe.refresh_from_db()
    assert probe.state == ProbeState.BOUNCED
    assert states(VICTIM) == [("community", Status.DISABLED, 1.0), ("parents", Status.ACTIVE, 0.0)]
    sub = Subscription.objects.get(mailing_list=ml, member__key=VICTIM)
    assert "confirmation probe bounced" in sub.disabled_reason
    assert Suppression.objects.count() == 0


def test_it_resets_the_score_when_the_probe_gets_through(mailpath) -> None:  # noqa: F811
    ml, _ = two_lists(mailpath)
    services.update_list(ml, actor="test", bounce_score_threshold=1.0)
    mailpath.start_worker()
    mailpath.post(ml.address, subject="Saturday")
    mailpath.wait_delivered(ml)
    address = f"community-bounces+{copy_token(ml, VICTIM)}@{ml.domain}"

    send_report(
        address,
        delivery_report(
            VICTIM, to=address, status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full"
        ),
    )

    processed_reports(1)
    probe = BounceProbe.objects.get()

    def probes_at_ses() -> list:
        return [m for m in mailpath.ses.messages if m.mail_from == probes.probe_address(probe)]

    wait_for(lambda: len(probes_at_ses()) == 1, 60, "the probe at SES")
    [sent] = probes_at_ses()
    assert sent.rcpt_tos == [VICTIM]
    assert parseaddr(str(sent.message["From"])) == ("Community", f"community-owner@{ml.domain}")
    assert "bouncing" in sent.message["Subject"]
    assert states(VICTIM) == [("community", Status.ACTIVE, 1.0), ("parents", Status.ACTIVE, 0.0)]

    assert probes.expire(timezone.now() + probes.PROBE_WAIT + timedelta(minutes=1)) == 1

    probe.refresh_from_db()
    assert probe.state == ProbeState.EXPIRED
    assert states(VICTIM) == untouched()
