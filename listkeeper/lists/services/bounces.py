"""What bounces and complaints do to members: scores, disabling, suppression."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from listkeeper.lists.models import (
    Member,
    Status,
    Subscription,
)
from listkeeper.lists.services.core import audit, set_status, suppress, unsubscribe

# Bounces and complaints ------------------------------------------------------
#
# Scoring follows GNU Mailman: at most one point a day, the score goes stale
# (back to zero) after a week without bounces, and delivery is disabled when it
# reaches the list's bounce_score_threshold and a confirmation probe bounced too.

BOUNCE_SCORE_STALE_AFTER = timedelta(days=7)


def _locked(sub: Subscription) -> Subscription:
    """The subscription read again and locked for the rest of the transaction."""
    return (
        Subscription.objects.select_for_update()
        .select_related("mailing_list", "member")
        .get(id=sub.id)
    )


def record_hard_bounce(member: Member, *, actor: str, reason: str) -> list[Subscription]:
    """A permanent failure proven site-wide: stop every delivery to the address at once.

    Only for SES's own word (a signed SNS notification) or permanent failures
    proven by VERP on two different lists (feedback/outcomes.py). Returns the
    subscriptions that were disabled.
    """
    reason = reason[:300]
    with transaction.atomic():
        subs = list(
            Subscription.objects.select_for_update()
            .select_related("mailing_list")
            .filter(member=member, status=Status.ACTIVE)
        )
        for sub in subs:
            set_status(sub, Status.DISABLED, actor=actor, reason=f"hard bounce: {reason}")
        now = timezone.now()
        Subscription.objects.filter(member=member).update(last_bounce=now)
        suppress(member.key, f"hard bounce: {reason}", bulk_only=False, actor=actor)
    return subs


def record_list_hard_bounce(sub: Subscription, *, actor: str, reason: str) -> bool:
    """A permanent failure of a copy from one list: disable that subscription only.

    True when delivery was disabled by this call.
    """
    with transaction.atomic():
        sub = _locked(sub)
        sub.last_bounce = timezone.now()
        sub.save(update_fields=["last_bounce"])
        if sub.status != Status.ACTIVE:
            return False
        set_status(sub, Status.DISABLED, actor=actor, reason=f"hard bounce: {reason}"[:300])
    return True


def record_soft_bounce(
    sub: Subscription, *, actor: str, reason: str, now: datetime | None = None
) -> bool:
    """A temporary failure: add to the decaying score.

    True when the score has reached the list's threshold: the caller then
    sends a confirmation probe (feedback/probes.py) and disables delivery only
    if that bounces too (`disable_after_probe`).
    """
    now = now or timezone.now()
    with transaction.atomic():
        sub = _locked(sub)
        if sub.status != Status.ACTIVE:
            return False
        threshold = sub.mailing_list.bounce_score_threshold
        last = sub.last_bounce
        if last is not None and now - last > BOUNCE_SCORE_STALE_AFTER:
            sub.bounce_score = 0.0
        elif last is not None and last.date() == now.date():
            # one point a day: a burst of retries is one bad day
            return sub.bounce_score >= threshold
        sub.bounce_score += 1.0
        sub.last_bounce = now
        sub.save(update_fields=["bounce_score", "last_bounce"])
        audit(
            actor,
            "bounce.soft",
            mailing_list=sub.mailing_list,
            member=sub.member,
            score=sub.bounce_score,
            reason=reason[:300],
        )
        return sub.bounce_score >= threshold


def disable_after_probe(sub: Subscription, *, actor: str, reason: str) -> bool:
    """The confirmation probe bounced as well: disable delivery. True when it did."""
    with transaction.atomic():
        sub = _locked(sub)
        if sub.status != Status.ACTIVE:
            return False
        threshold = sub.mailing_list.bounce_score_threshold
        set_status(
            sub,
            Status.DISABLED,
            actor=actor,
            reason=f"bounce score {sub.bounce_score:g} reached {threshold:g} "
            f"and the confirmation probe bounced: {reason}"[:300],
        )
    return True


def reset_bounce_score(sub: Subscription, *, actor: str, why: str) -> None:
    """Start counting again from zero (a confirmation probe did not bounce)."""
    with transaction.atomic():
        updated = Subscription.objects.filter(id=sub.id, bounce_score__gt=0).update(
            bounce_score=0.0
        )
        if updated:
            audit(actor, "bounce.reset", mailing_list=sub.mailing_list, member=sub.member, why=why)


def record_complaint(sub: Subscription, *, actor: str, reason: str, site_wide: bool = True) -> bool:
    """A spam complaint: off this list now.

    With `site_wide` (SES's own word, a signed SNS notification) also no bulk
    mail from any list until a new confirmed subscription. True when the
    subscription was stopped by this call.
    """
    with transaction.atomic():
        stopped = unsubscribe(sub, actor=actor, reason=f"complaint: {reason}"[:300])
        if site_wide:
            suppress(sub.member.key, f"complaint: {reason}", bulk_only=True, actor=actor)
    return stopped
