"""What a bounce, complaint or delivery means for a member, whichever way it arrived.

SNS notifications (feedback/ses.py) and delivery reports (feedback/dsn.py)
both end here: find who the report is about, record a DeliveryEvent for the
figures, and let lists.services change the membership.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from listkeeper.delivery.models import Recipient
from listkeeper.feedback.models import DeliveryEvent, EventKind
from listkeeper.lib import tokens
from listkeeper.lib.addresses import address_key
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Member, Post, Status, Subscription

log = logging.getLogger(__name__)

ACTOR = services.SYSTEM


@dataclass
class Target:
    """Who one report is about, as far as we can tell."""

    email: str
    member: Member | None = None
    mailing_list: MailingList | None = None
    post: Post | None = None
    recipient: Recipient | None = None


def recipient_from_verp(address: str) -> Recipient | None:
    """The ledger row named by NAME-bounces+TOKEN@DOMAIN, or None."""
    local = address.strip().strip("<>").rpartition("@")[0]
    base, plus, token = local.partition("+")
    if not plus or not base.lower().endswith("-bounces") or not token:
        return None
    try:
        recipient_id = tokens.read_verp_token(token)
    except tokens.BadToken:
        log.info("bounce address with a token that is not ours: %s", address)
        return None
    return (
        Recipient.objects.select_related("member", "delivery__post__mailing_list")
        .filter(id=recipient_id)
        .first()
    )


def find_target(
    email: str,
    *,
    recipient: Recipient | None = None,
    mailing_list: MailingList | None = None,
) -> Target:
    """Combine what the VERP token, the list address and the reported address tell us.

    The ledger row wins when its address is the one reported (a VERP address
    names exactly one copy); otherwise the member is found by address and, with
    a list, the latest copy of that list they were sent.
    """
    key = address_key(email)
    if recipient is not None and address_key(recipient.email) == key:
        post = recipient.delivery.post
        ml = post.mailing_list if post else mailing_list
        member = recipient.member or Member.objects.filter(key=key).first()
        return Target(
            email=recipient.email, member=member, mailing_list=ml, post=post, recipient=recipient
        )
    if recipient is not None and recipient.delivery.post is not None and mailing_list is None:
        mailing_list = recipient.delivery.post.mailing_list
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
    if kind == EventKind.HARD_BOUNCE:
        subs = services.record_hard_bounce(target.member, actor=ACTOR, reason=reason)
        return f"{what}: suppressed, {len(subs)} subscription(s) disabled"
    if kind == EventKind.SOFT_BOUNCE:
        disabled = [
            s
            for s in _subscriptions(target)
            if services.record_soft_bounce(s, actor=ACTOR, reason=reason)
        ]
        return f"{what}: scored" + (f", {len(disabled)} disabled" if disabled else "")
    if kind == EventKind.COMPLAINT:
        subs = [s for s in _subscriptions(target) if s.status != Status.UNSUBSCRIBED]
        for sub in subs:
            services.record_complaint(sub, actor=ACTOR, reason=reason)
        if not subs:
            services.suppress(
                target.member.key, f"complaint: {reason}", bulk_only=True, actor=ACTOR
            )
        return f"{what}: unsubscribed from {len(subs)} list(s), suppressed for bulk mail"
    raise ValueError(f"unknown delivery event kind {kind!r}")
