"""Held posts: telling the moderators, and their approve / reject / discard.

An approved post goes through the same pipeline and ledger as one the rules
accepted. Each action changes a post only while it is still held (a
conditional UPDATE), so two moderators clicking at once deliver it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from listkeeper.archive.store import archive_post
from listkeeper.delivery.ledger import enqueue_post
from listkeeper.delivery.notices import language_for, send_template
from listkeeper.lib.log import mail_event
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, PostingPolicy, RouteKind, SenderKind
from listkeeper.mail import headers as h
from listkeeper.mail import pipeline
from listkeeper.mail.context import parse_message, wire_form
from listkeeper.mail.errors import Stop
from listkeeper.mail.models import HeldNotice, Post, PostStatus
from listkeeper.mail.replies import reply, staff_of

log = logging.getLogger("listkeeper.mail")

NOTICE_INTERVAL = timedelta(hours=1)
NOTICE_MAX_POSTS = 25


class ModerationError(services.ServiceError):
    """A moderation action that cannot be done; str() says why."""


def moderation_url(ml: MailingList) -> str:
    return settings.SITE_URL + reverse("held_posts", kwargs={"list_id": ml.id})


# Telling the moderators --------------------------------------------------------


def notify_held(ml: MailingList, now: datetime | None = None) -> bool:
    """Mail the list's moderators what waits, at most once an hour; True if mailed.

    Call inside the transaction that held the post, and periodically
    (send_due_held_notices) so posts held within the hour are announced later.
    """
    now = now or timezone.now()
    with transaction.atomic():
        HeldNotice.objects.get_or_create(mailing_list=ml)
        notice = HeldNotice.objects.select_for_update().get(mailing_list=ml)
        held = Post.objects.filter(mailing_list=ml, status=PostStatus.HELD)
        newest = held.aggregate(newest=Max("id"))["newest"] or 0
        if newest <= notice.last_post_id:
            return False
        if notice.last_sent is not None and now - notice.last_sent < NOTICE_INTERVAL:
            return False
        to = staff_of(ml)
        waiting = list(held.order_by("received", "id")[:NOTICE_MAX_POSTS])
        if to:
            send_template(
                "held-notice",
                to,
                {"posts": waiting, "count": held.count(), "moderation_url": moderation_url(ml)},
                mailing_list=ml,
            )
        else:
            log.warning(
                "posts held on %s but nobody to tell: no owners, moderators or admins", ml.address
            )
        notice.last_sent, notice.last_post_id = now, newest
        notice.save(update_fields=["last_sent", "last_post_id"])
        return bool(to)


def send_due_held_notices(now: datetime | None = None) -> int:
    """The periodic half of notify_held: returns how many lists were mailed."""
    lists = MailingList.objects.filter(posts__status=PostStatus.HELD).distinct()
    return sum(notify_held(ml, now) for ml in lists)


# Moderators' actions -----------------------------------------------------------


def _decide(post: Post, status: str, actor: str, **fields: object) -> None:
    now = timezone.now()
    updated = Post.objects.filter(id=post.id, status=PostStatus.HELD).update(
        status=status, decided=now, decided_by=actor, **fields
    )
    if not updated:
        current = Post.objects.filter(id=post.id).values_list("status", "decided_by").first()
        if current is None:
            raise ModerationError(_("this post no longer exists"))
        state, by = current
        raise ModerationError(
            _("this post is no longer held: it was %(state)s by %(who)s")
            % {"state": state, "who": by}
            if by
            else _("this post is no longer held: it was %(state)s") % {"state": state}
        )
    post.status, post.decided, post.decided_by = status, now, actor
    for name, value in fields.items():
        setattr(post, name, value)


def approve(post: Post, actor: str, always_allow: bool = False) -> Post:
    """Deliver a held post exactly as if the rules had accepted it."""
    ml = post.mailing_list
    try:
        ctx = parse_message(ml, bytes(post.raw), post.sender, require_author=False)
        message = pipeline.run(ctx)
    except Stop as stop:
        raise ModerationError(
            _("this post cannot be sent to the list: %(reason)s; discard it")
            % {"reason": stop.reason}
        ) from None
    message_id = (ctx.headers.get("Message-ID") or post.message_id)[:998]
    with transaction.atomic():
        _decide(post, PostStatus.ACCEPTED, actor, message_id=message_id)
        delivery = enqueue_post(
            post, message, envelope_from=ml.suffixed(RouteKind.BOUNCES), digest_form=ctx.digest_form
        )
        archive_post(post)
        allowed = ctx.author if always_allow else None
        if allowed is not None:
            kind = (
                SenderKind.POSTER
                if ml.posting_policy == PostingPolicy.ANNOUNCE
                else SenderKind.ALLOWED
            )
            services.add_list_sender(ml, allowed.email, kind, actor=actor)
        # Post ids, not addresses, in the log: erasing a person must not leave them here.
        services.audit(
            actor,
            "post.approve",
            mailing_list=ml,
            post=post.id,
            recipients=delivery.total,
            always_allow=allowed is not None,
        )
    mail_event(
        "post_approved",
        message_id=post.message_id,
        mailing_list=ml,
        post=post.id,
        actor=actor,
        recipients=delivery.total,
    )
    return post


def reject(post: Post, actor: str, reason: str = "") -> Post:
    """Refuse a held post and tell its sender, with the moderator's reason if given."""
    ml = post.mailing_list
    reason = reason.strip()
    stored = f"rejected by a moderator: {reason}" if reason else post.reason
    with transaction.atomic():
        _decide(post, PostStatus.REJECTED, actor, reason=stored[:500])
        told = _tell_sender(
            post, (lambda: reason) if reason else (lambda: _("a moderator declined it"))
        )
        services.audit(
            actor, "post.reject", mailing_list=ml, post=post.id, reason=reason, sender_told=told
        )
    return post


def discard(post: Post, actor: str) -> Post:
    """Drop a held post without telling anyone (spam)."""
    with transaction.atomic():
        _decide(post, PostStatus.DISCARDED, actor)
        services.audit(actor, "post.discard", mailing_list=post.mailing_list, post=post.id)
    return post


def expire_held(now: datetime | None = None) -> int:
    """Reject posts held longer than their list's held_expiry_days (0 = never); sender told."""
    now = now or timezone.now()
    expired = 0
    lists = MailingList.objects.filter(
        posts__status=PostStatus.HELD, held_expiry_days__gt=0
    ).distinct()
    for ml in lists:
        cutoff = now - timedelta(days=ml.held_expiry_days)
        for post in Post.objects.filter(
            mailing_list=ml, status=PostStatus.HELD, received__lt=cutoff
        ):
            why = f"no moderator approved it within {ml.held_expiry_days} days"
            try:
                with transaction.atomic():
                    _decide(
                        post, PostStatus.REJECTED, services.SYSTEM, reason=f"expired: {why}"[:500]
                    )
                    told = _tell_sender(post, partial(_expired, ml.held_expiry_days))
                    services.audit(
                        services.SYSTEM,
                        "post.expire",
                        mailing_list=ml,
                        post=post.id,
                        sender_told=told,
                    )
            except ModerationError:
                continue  # decided meanwhile by a moderator
            expired += 1
    return expired


def housekeeping(now: datetime | None = None) -> dict[str, int]:
    """What the worker (or a cron job) runs now and then."""
    return {"expired": expire_held(now), "notices": send_due_held_notices(now)}


def _expired(days: int) -> str:
    return ngettext(
        "no moderator approved it within %(days)s day",
        "no moderator approved it within %(days)s days",
        days,
    ) % {"days": days}


def _tell_sender(post: Post, reason: Callable[[], str]) -> bool:
    """Mail the sender that the post was refused; `reason` is worded in their language."""
    original, _rest = h.split(wire_form(bytes(post.raw)))
    with translation.override(language_for([post.sender])):
        why = reason()
    return reply(
        "post-rejected",
        post.sender,
        {"subject": post.subject, "reason": why, "received": post.received, "post": post},
        mailing_list=post.mailing_list,
        original=original,
    )
