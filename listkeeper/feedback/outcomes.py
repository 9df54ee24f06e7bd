"""What a bounce, complaint or delivery means for a member, whichever way it arrived.

SNS notifications (feedback/ses.py) and delivery reports that proved
themselves (feedback/dsn.py) both end here: record a DeliveryEvent for the
figures, and let lists.services change the membership. What each may change
is written down in docs/operations.md ("What proves a bounce").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from listkeeper.delivery.models import Recipient
from listkeeper.feedback import probes, verp
from listkeeper.feedback.models import (
    BounceProbe,
    DeliveryEvent,
    EventKind,
    EventSource,
    ProbeState,
)
from listkeeper.lib.addresses import address_key
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Member, Status, Subscription
from listkeeper.mail.models import Post

log = logging.getLogger(__name__)

ACTOR = services.SYSTEM

# Permanent failures proven by VERP on this many different lists, within
# SITE_WIDE_WINDOW, suppress the address everywhere (docs/operations.md).
SITE_WIDE_LISTS = 2
SITE_WIDE_WINDOW = timedelta(days=30)


@dataclass
class Target:
    """Who one report is about, as far as we can tell."""

    email: str
    member: Member | None = None
    mailing_list: MailingList | None = None
    post: Post | None = None
    recipient: Recipient | None = None
    probe: BounceProbe | None = None


def target_of(proof: verp.Proof) -> Target:
    """The copy or probe a verified VERP token names."""
    return Target(
        email=proof.email,
        member=proof.member,
        mailing_list=proof.mailing_list,
        post=proof.post,
        recipient=proof.recipient,
        probe=proof.probe,
    )


def find_target(email: str, *, mailing_list: MailingList | None = None) -> Target:
    """The member an SNS notification names by address, when no VERP token names the copy.

    With a list, the latest copy of that list they were sent is the one.
    """
    key = address_key(email)
    member = Member.objects.filter(key=key).first()
    target = Target(email=email, member=member, mailing_list=mailing_list)
    if member is not None and mailing_list is not None:
        latest = (
            Recipient.objects.select_related("delivery__post")
            .filter(member=member, delivery__post__mailing_list=mailing_list)
            .order_by("-id")
            .first()
        )
        if latest is not None:
            target.recipient, target.post = latest, latest.delivery.post
    return target


def _subscriptions(target: Target) -> list[Subscription]:
    """The subscriptions a soft bounce or complaint is about: the list's, else all active ones."""
    if target.member is None:
        return []
    subs = Subscription.objects.select_related("mailing_list", "member").filter(
        member=target.member
    )
    if target.mailing_list is not None:
        return list(subs.filter(mailing_list=target.mailing_list))
    return list(subs.filter(status=Status.ACTIVE))


def _already_recorded(kind: str, target: Target, ses_message_id: str) -> bool:
    # SES and Postfix may both report one copy, and SNS retries; count it once.
    events = DeliveryEvent.objects.filter(kind=kind)
    if target.recipient is not None:
        return events.filter(recipient=target.recipient).exists()
    if ses_message_id:
        return events.filter(ses_message_id=ses_message_id, email__iexact=target.email).exists()
    return False


def apply(
    kind: str,
    target: Target,
    *,
    source: str,
    status: str = "",
    detail: str = "",
    ses_message_id: str = "",
    occurred: datetime | None = None,
) -> str:
    """Record one event and act on it; returns a line saying what happened."""
    if target.member is None and target.recipient is None:
        # Not a copy we sent: counting it would skew the list's rates.
        return f"{kind} {target.email}: not a member, nothing to change"
    with transaction.atomic():
        if _already_recorded(kind, target, ses_message_id):
            return f"{kind} {target.email}: already recorded"
        DeliveryEvent.objects.create(
            kind=kind,
            source=source,
            email=target.email[:254],
            mailing_list=target.mailing_list,
            post=target.post,
            recipient=target.recipient,
            member=target.member,
            status=status[:20],
            detail=detail[:500],
            ses_message_id=ses_message_id[:200],
            occurred=occurred or timezone.now(),
        )
        return _change_membership(kind, target, source=source, status=status, detail=detail)


def _change_membership(kind: str, target: Target, *, source: str, status: str, detail: str) -> str:
    what = f"{kind} {target.email}"
    if kind in (EventKind.ACCEPTED, EventKind.DELIVERED):
        return what
    if target.member is None:
        return f"{what}: not a member, nothing to change"
    reason = " ".join(x for x in (f"[{source}]", status, detail) if x)[:250]
    probe = target.probe
    if probe is not None and probe.state == ProbeState.PENDING:
        if kind in (EventKind.HARD_BOUNCE, EventKind.SOFT_BOUNCE):
            line = f"{what}: {probes.bounced(probe, reason=reason)}"
            if kind == EventKind.SOFT_BOUNCE:
                return line
            return f"{line}; {_hard(target, source=source, reason=reason)}"
    if kind == EventKind.HARD_BOUNCE:
        return f"{what}: {_hard(target, source=source, reason=reason)}"
    if kind == EventKind.SOFT_BOUNCE:
        return f"{what}: {_soft(target, reason=reason)}"
    if kind == EventKind.COMPLAINT:
        # Only SES's signed word suppresses everywhere; a mailed report (ARF
        # to a VERP address) takes the member off the list it was about.
        site_wide = source == EventSource.SNS
        subs = [s for s in _subscriptions(target) if s.status != Status.UNSUBSCRIBED]
        for sub in subs:
            services.record_complaint(sub, actor=ACTOR, reason=reason, site_wide=site_wide)
        if not subs and site_wide:
            services.suppress(
                target.member.key, f"complaint: {reason}", bulk_only=True, actor=ACTOR
            )
        return f"{what}: unsubscribed from {len(subs)} list(s)" + (
            ", suppressed for bulk mail" if site_wide else ""
        )
    raise ValueError(f"unknown delivery event kind {kind!r}")


def _hard(target: Target, *, source: str, reason: str) -> str:
    """A permanent failure: site-wide on SES's word, else the list the copy came from."""
    assert target.member is not None
    if source == EventSource.SNS:
        subs = services.record_hard_bounce(target.member, actor=ACTOR, reason=reason)
        return f"suppressed, {len(subs)} subscription(s) disabled"
    if target.mailing_list is None:
        return "a copy sent for no list: nothing to disable"
    disabled = [
        s
        for s in _subscriptions(target)
        if services.record_list_hard_bounce(s, actor=ACTOR, reason=reason)
    ]
    line = f"{len(disabled)} subscription(s) to {target.mailing_list.address} disabled"
    lists = _lists_with_proven_hard_bounces(target.member)
    if len(lists) >= SITE_WIDE_LISTS:
        subs = services.record_hard_bounce(
            target.member,
            actor=ACTOR,
            reason=f"permanent failures reported for {len(lists)} lists: {reason}",
        )
        line += f"; failing on {len(lists)} lists: suppressed, {len(subs)} more disabled"
    return line


def _lists_with_proven_hard_bounces(member: Member) -> set[int]:
    # Every DSN event is from a report that proved itself (dsn.py acts on no other).
    since = timezone.now() - SITE_WIDE_WINDOW
    return set(
        DeliveryEvent.objects.filter(
            member=member,
            kind=EventKind.HARD_BOUNCE,
            source=EventSource.DSN,
            occurred__gte=since,
            mailing_list__isnull=False,
        ).values_list("mailing_list_id", flat=True)
    )


def _soft(target: Target, *, reason: str) -> str:
    """A temporary failure: score it; at the threshold, send a probe instead of disabling."""
    line = "scored"
    for sub in _subscriptions(target):
        if not services.record_soft_bounce(sub, actor=ACTOR, reason=reason):
            continue
        if probes.send(sub, reason=reason) is not None:
            line += f", score reached the threshold of {sub.mailing_list.address}: probe sent"
        else:
            line += f", a probe for {sub.mailing_list.address} is already waiting"
    return line
