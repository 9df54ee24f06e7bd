"""Confirmation probes: the last check before a member is disabled for their bounce score.

As in GNU Mailman, when temporary failures bring a subscription's score to
the list's threshold, the member is not disabled at once: they are sent a
short notice saying delivery is failing, from the list's -owner address and
with `NAME-bounces+probe-TOKEN@DOMAIN` as envelope sender, through the normal
outgoing path. If that probe bounces too (any failure report to that
address naming the member), delivery is disabled. If nothing comes back
within PROBE_WAIT, the mail is getting through after all: the probe
expires and the score starts again from zero.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from listkeeper.delivery import notices
from listkeeper.feedback.models import BounceProbe, ProbeState
from listkeeper.lib import links, tokens
from listkeeper.lists import services
from listkeeper.lists.models import Status, Subscription

log = logging.getLogger(__name__)

# Longer than Postfix's maximal_queue_lifetime (5 days): a probe that is
# deferred until the sending MTA gives up still bounces within the wait.
PROBE_WAIT = timedelta(days=7)


def probe_address(probe: BounceProbe) -> str:
    ml = probe.subscription.mailing_list
    return f"{ml.local_part}-bounces+{tokens.probe_token(probe.id)}@{ml.domain}"


def pending(sub: Subscription) -> BounceProbe | None:
    return BounceProbe.objects.filter(subscription=sub, state=ProbeState.PENDING).first()


def send(sub: Subscription, *, reason: str, now: datetime | None = None) -> BounceProbe | None:
    """Send a probe for `sub` unless one is already waiting; the new probe, or None."""
    now = now or timezone.now()
    with transaction.atomic():
        # One waiting probe per subscription, however many reports arrive meanwhile.
        locked = Subscription.objects.select_for_update().get(id=sub.id)
        if locked.status != Status.ACTIVE or pending(locked) is not None:
            return None
        sub = Subscription.objects.select_related("member", "mailing_list").get(id=sub.id)
        probe = BounceProbe.objects.create(
            subscription=sub, email=sub.member.email, sent=now, expires=now + PROBE_WAIT
        )
        ml = sub.mailing_list
        notices.send_template(
            "bounce-probe",
            [sub.member.email],
            {
                "address": sub.member.email,
                "reason": reason,
                "score": sub.bounce_score,
                "wait_days": PROBE_WAIT.days,
                "manage_url": links.manage_url(sub.member.email),
                "list_url": links.list_page_url(ml.local_part, ml.domain),
            },
            mailing_list=ml,
            envelope_from=probe_address(probe),
        )
        services.audit(
            services.SYSTEM,
            "bounce.probe",
            mailing_list=ml,
            member=sub.member,
            score=sub.bounce_score,
            expires=probe.expires.isoformat(),
        )
    log.info(
        "sent a bounce probe for %s to %s (score %g)", ml.address, probe.email, sub.bounce_score
    )
    return probe


def bounced(probe: BounceProbe, *, reason: str) -> str:
    """The probe bounced: disable the subscription. A line saying what happened."""
    with transaction.atomic():
        probe = BounceProbe.objects.select_for_update().get(id=probe.id)
        if probe.state != ProbeState.PENDING:
            return f"the probe was already {probe.get_state_display().lower()}"
        probe.state, probe.resolved = ProbeState.BOUNCED, timezone.now()
        probe.save(update_fields=["state", "resolved"])
        disabled = services.disable_after_probe(
            probe.subscription, actor=services.SYSTEM, reason=reason
        )
    return "the confirmation probe bounced: " + ("delivery disabled" if disabled else "no change")


def expire(now: datetime | None = None) -> int:
    """Close the probes that waited PROBE_WAIT without a bounce; how many."""
    now = now or timezone.now()
    done = 0
    for probe in BounceProbe.objects.filter(state=ProbeState.PENDING, expires__lte=now):
        with transaction.atomic():
            updated = BounceProbe.objects.filter(id=probe.id, state=ProbeState.PENDING).update(
                state=ProbeState.EXPIRED, resolved=now
            )
            if updated:
                services.reset_bounce_score(
                    probe.subscription,
                    actor=services.SYSTEM,
                    why=f"the confirmation probe sent {probe.sent:%Y-%m-%d} did not bounce",
                )
                done += 1
    return done
