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
# reaches the list's bounce_score_threshold.

BOUNCE_SCORE_STALE_AFTER = timedelta(days=7)


def record_hard_bounce(member: Member, *, actor: str, reason: str) -> list[Subscription]:
    """A permanent failure: stop every delivery to the address at once.

    Returns the subscriptions that were disabled.
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


def record_soft_bounce(
    sub: Subscription, *, actor: str, reason: str, now: datetime | None = None
) -> bool:
    """A temporary failure: add to the decaying score; True when it disabled delivery."""
    now = now or timezone.now()
    with transaction.atomic():
        sub = (
            Subscription.objects.select_for_update()
            .select_related("mailing_list", "member")
            .get(id=sub.id)
        )
        if sub.status != Status.ACTIVE:
            return False
        last = sub.last_bounce
        if last is not None and now - last > BOUNCE_SCORE_STALE_AFTER:
            sub.bounce_score = 0.0
        elif last is not None and last.date() == now.date():
            return False  # one point a day: a burst of retries is one bad day
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
        threshold = sub.mailing_list.bounce_score_threshold
        if sub.bounce_score >= threshold:
            set_status(
                sub,
                Status.DISABLED,
                actor=actor,
                reason=f"bounce score {sub.bounce_score:g} reached {threshold:g}: {reason}"[:300],
            )
            return True
    return False


def record_complaint(sub: Subscription, *, actor: str, reason: str) -> bool:
    """A spam complaint: off this list now, no bulk mail until a new confirmed subscription.

    True when the subscription was stopped by this call.
    """
    with transaction.atomic():
        stopped = unsubscribe(sub, actor=actor, reason=f"complaint: {reason}"[:300])
        suppress(sub.member.key, f"complaint: {reason}", bulk_only=True, actor=actor)
    return stopped
