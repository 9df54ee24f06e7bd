"""The confirmation probe sent before a member is disabled for their bounce score."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr

import pytest
from django.core import mail
from django.utils import timezone

from listkeeper.feedback import dsn, probes, ses
from listkeeper.feedback.models import BounceProbe, ProbeState
from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.models import Status, Subscription, Suppression
from listkeeper.mail.models import InboundKind, InboundMessage
from tests.support.dsn import delivery_report
from tests.support.feedback import ledger_row, verp_address
from tests.support.sns_signing import bounce_event

CAROL = "carol@example.net"
FULL = {"status": "4.2.2", "diagnostic": "smtp; 452 4.2.2 Mailbox full"}


@pytest.fixture
def low_threshold(members):
    services.update_list(members, actor="test", bounce_score_threshold=1.0)
    return members


def report(ml, address: str, reported: str = CAROL, **kwargs) -> InboundMessage:
    inbound = InboundMessage.objects.create(
        mailing_list=ml,
        kind=InboundKind.BOUNCE,
        recipient=address,
        sender="",
        raw=delivery_report(reported, to=address, **kwargs),
    )
    dsn.process_inbound(inbound)
    inbound.refresh_from_db()
    return inbound


def carol_sub(ml) -> Subscription:
    return Subscription.objects.get(mailing_list=ml, member__key=CAROL)


def test_it_sends_one_probe_when_the_score_reaches_the_threshold(low_threshold, delivery) -> None:
    address = verp_address(low_threshold, ledger_row(delivery, CAROL))

    first = report(low_threshold, address, **FULL)

    probe = BounceProbe.objects.get()
    assert "probe sent" in first.result
    assert (probe.email, probe.state, probe.subscription_id) == (
        CAROL,
        ProbeState.PENDING,
        carol_sub(low_threshold).id,
    )
    assert probe.expires - probe.sent == probes.PROBE_WAIT
    [notice] = mail.outbox
    assert notice.to == [CAROL]
    assert notice.from_email == probes.probe_address(probe)  # the envelope sender
    assert parseaddr(notice.extra_headers["From"]) == (
        "Community",
        "community-owner@lists.example.org",
    )
    assert notice.subject == "Mail from Community to you is bouncing"
    assert "4.2.2 Mailbox full" in notice.body
    assert carol_sub(low_threshold).status == Status.ACTIVE

    # The next day's failure while the probe waits sends no second probe.
    services.record_soft_bounce(
        carol_sub(low_threshold),
        actor="test",
        reason="again",
        now=timezone.now() + timedelta(days=1),
    )
    assert probes.send(carol_sub(low_threshold), reason="again") is None
    assert BounceProbe.objects.count() == 1 and len(mail.outbox) == 1


def test_it_disables_when_the_probe_bounces(low_threshold, delivery) -> None:
    report(low_threshold, verp_address(low_threshold, ledger_row(delivery, CAROL)), **FULL)
    probe = BounceProbe.objects.get()

    inbound = report(low_threshold, probes.probe_address(probe))

    probe.refresh_from_db()
    assert probe.state == ProbeState.BOUNCED and inbound.unproven == ""
    sub = carol_sub(low_threshold)
    assert sub.status == Status.DISABLED
    assert "bounce score 1 reached 1 and the confirmation probe bounced" in sub.disabled_reason
    assert Suppression.objects.count() == 0


def test_it_ignores_a_probe_report_naming_someone_else(low_threshold, delivery) -> None:
    report(low_threshold, verp_address(low_threshold, ledger_row(delivery, CAROL)), **FULL)
    probe = BounceProbe.objects.get()

    inbound = report(low_threshold, probes.probe_address(probe), reported="dave@gmail.com")

    probe.refresh_from_db()
    assert probe.state == ProbeState.PENDING
    assert carol_sub(low_threshold).status == Status.ACTIVE
    assert inbound.unproven == f"reports dave@gmail.com, but its VERP token was made for {CAROL}"


def test_it_ignores_a_forged_probe_token(low_threshold, delivery) -> None:
    report(low_threshold, verp_address(low_threshold, ledger_row(delivery, CAROL)), **FULL)
    probe = BounceProbe.objects.get()
    # A copy's token for the same number is not a probe's: each has its own MAC.
    forged = f"community-bounces+probe-{tokens.verp_token(probe.id)}@lists.example.org"

    inbound = report(low_threshold, forged)

    assert "probe token does not verify" in inbound.unproven
    probe.refresh_from_db()
    assert probe.state == ProbeState.PENDING
    assert carol_sub(low_threshold).status == Status.ACTIVE


def test_it_resets_the_score_when_the_probe_did_not_bounce(low_threshold, delivery) -> None:
    report(low_threshold, verp_address(low_threshold, ledger_row(delivery, CAROL)), **FULL)
    probe = BounceProbe.objects.get()
    assert carol_sub(low_threshold).bounce_score == 1.0

    assert probes.expire(probe.expires - timedelta(minutes=1)) == 0
    assert probes.expire(probe.expires + timedelta(minutes=1)) == 1

    probe.refresh_from_db()
    assert probe.state == ProbeState.EXPIRED
    sub = carol_sub(low_threshold)
    assert (sub.status, sub.bounce_score) == (Status.ACTIVE, 0.0)
    # A late bounce of the expired probe only scores again.
    report(low_threshold, probes.probe_address(probe), **FULL)
    assert carol_sub(low_threshold).status == Status.ACTIVE


def test_it_disables_when_ses_reports_the_probe_bouncing(low_threshold, delivery) -> None:
    report(low_threshold, verp_address(low_threshold, ledger_row(delivery, CAROL)), **FULL)
    probe = BounceProbe.objects.get()

    ses.process_event(bounce_event([CAROL], source=probes.probe_address(probe)))

    probe.refresh_from_db()
    assert probe.state == ProbeState.BOUNCED
    # SES's own word on a permanent bounce also suppresses the address site-wide.
    assert carol_sub(low_threshold).status == Status.DISABLED
    assert Suppression.objects.get().key == CAROL
