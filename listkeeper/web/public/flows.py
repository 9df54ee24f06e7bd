"""What the public pages do: membership changes through lists.services, and
the mail that goes with them through delivery.notices.

Kept out of lists.services because it sends mail, and lists may not import
delivery (lib <- lists <- delivery <- ... <- web).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from listkeeper.delivery import notices
from listkeeper.lib import links, tokens
from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists import bans, services
from listkeeper.lists.models import MailingList, Member, Source, Status, Subscription
from listkeeper.web.public import throttle

log = logging.getLogger(__name__)

# The audit actor for changes a member makes to their own subscriptions. Not
# the address itself: erase_member must be able to wipe every trace of it.
ACTOR = "web:self"


class LinkError(Exception):
    """A link that cannot be used; str() is what the person is told."""


def link_max_age() -> int:
    return settings.CONFIRM_LINK_DAYS * 24 * 3600


def mail_context(ml: MailingList, email: str, member: Member | None = None) -> dict[str, object]:
    """The names every template in listkeeper/mail/templates/emails/ can rely on."""
    ctx: dict[str, object] = {
        "list": ml,
        "address": email,
        "list_url": links.list_page_url(ml.local_part, ml.domain),
        "manage_url": links.manage_url(email),
        "expires_days": settings.CONFIRM_LINK_DAYS,
    }
    if member is not None:
        ctx["unsubscribe_url"] = links.unsubscribe_url(ml.id, member.id)
    return ctx


def public_list(address: str) -> MailingList | None:
    local, _, domain = address.strip().lower().rpartition("@")
    return MailingList.objects.filter(local_part=local, domain=domain, public=True).first()


def _subscription(ml: MailingList, key: str) -> Subscription | None:
    return (
        Subscription.objects.filter(mailing_list=ml, member__key=key)
        .select_related("member")
        .first()
    )


# Subscribing (double opt-in) ------------------------------------------------


def request_subscription(ml: MailingList, addr: Address, name: str = "") -> None:
    """Someone asked on the web to join `ml` as `addr`.

    Whatever the address's state, the caller shows the same answer, so the page
    never tells who is subscribed or banned. Only the mailbox owner learns it:
    a new or former member gets a confirmation link, an active member a note
    that they are already subscribed, a banned address nothing.
    """
    if not throttle.allow_mail_to(addr.key):
        log.info("subscribe request for %s throttled", ml.address)
        return
    if bans.is_banned(ml, addr.email):
        log.info("subscribe request for %s from a banned address ignored", ml.address)
        return
    sub = _subscription(ml, addr.key)
    if sub is not None and sub.status == Status.ACTIVE:
        notices.send_template(
            "already_subscribed",
            [sub.member.email],
            mail_context(ml, sub.member.email, sub.member),
            mailing_list=ml,
        )
        return
    try:
        result = services.subscribe(
            ml, addr, actor=ACTOR, source=Source.WEB, name=name, status=Status.PENDING
        )
    except services.Banned:  # banned between the check and now
        return
    member = result.subscription.member
    if not member.language:
        # Their notices follow the language of the page they subscribed on.
        services.set_language(member, _page_language(), actor=ACTOR)
    email = member.email
    ctx = mail_context(ml, email)
    ctx["confirm_url"] = links.confirm_url(ml.id, email)
    notices.send_template("confirm", [email], ctx, mailing_list=ml)


def _page_language() -> str:
    """The active language as one of settings.LANGUAGES ("de-at" reads as "de")."""
    code = translation.get_language() or settings.LANGUAGE_CODE
    known = {c for c, _ in settings.LANGUAGES}
    return code if code in known else code.split("-")[0] if code.split("-")[0] in known else ""


def member_language(email: str) -> str:
    member = Member.objects.filter(key=parse(email).key).first()
    return member.language if member is not None else ""


def set_language(email: str, language: str) -> bool:
    """The manage page's language choice; False for a language we do not write."""
    if language and language not in {c for c, _ in settings.LANGUAGES}:
        return False
    member = Member.objects.filter(key=parse(email).key).first()
    if member is not None:
        services.set_language(member, language, actor=ACTOR)
    return True


def read_confirm(token: str) -> tuple[MailingList, str]:
    try:
        list_id, email = tokens.read_confirm_token(token, max_age=link_max_age())
    except tokens.BadToken as exc:
        raise LinkError(
            _("This confirmation link cannot be used: %(problem)s.") % {"problem": exc}
        ) from None
    ml = MailingList.objects.filter(id=list_id).first()
    if ml is None:
        raise LinkError(_("This confirmation link is for a list that no longer exists."))
    return ml, email


def is_subscribed(ml: MailingList, email: str) -> bool:
    """Whether the address is already an active member (a confirmation link used before)."""
    sub = _subscription(ml, parse(email).key)
    return sub is not None and sub.status == Status.ACTIVE


def confirm(ml: MailingList, email: str) -> services.SubscribeResult:
    """Make the subscription active; the welcome goes out only the first time.

    Raises services.Banned.
    """
    result = services.subscribe(
        ml, email, actor=ACTOR, source=Source.WEB, status=Status.ACTIVE, confirmed=True
    )
    if result.changed:
        _welcome(result.subscription)
    return result


def _welcome(sub: Subscription) -> None:
    ml = sub.mailing_list
    if ml.send_welcome:
        notices.send_template(
            "welcome",
            [sub.member.email],
            mail_context(ml, sub.member.email, sub.member),
            mailing_list=ml,
        )


# Leaving --------------------------------------------------------------------


@dataclass
class UnsubscribeTarget:
    mailing_list: MailingList | None
    subscription: Subscription | None


def read_unsubscribe(token: str) -> UnsubscribeTarget:
    """The subscription an unsubscribe link names; None parts when since deleted."""
    try:
        list_id, member_id = tokens.read_unsubscribe_token(token)
    except tokens.BadToken as exc:
        raise LinkError(
            _("This unsubscribe link cannot be used: %(problem)s.") % {"problem": exc}
        ) from None
    except (TypeError, ValueError):  # signed but not ours: wrong shape
        raise LinkError(_("This unsubscribe link cannot be used.")) from None
    ml = MailingList.objects.filter(id=list_id).first()
    sub = (
        Subscription.objects.filter(mailing_list_id=list_id, member_id=member_id)
        .select_related("member", "mailing_list")
        .first()
    )
    return UnsubscribeTarget(ml, sub)


def leave(sub: Subscription, *, reason: str) -> bool:
    """Unsubscribe now; idempotent. The goodbye goes out only on the change."""
    changed = services.unsubscribe(sub, actor=ACTOR, reason=reason)
    ml = sub.mailing_list
    if changed and ml.send_goodbye:
        notices.send_template(
            "goodbye",
            [sub.member.email],
            mail_context(ml, sub.member.email, sub.member),
            mailing_list=ml,
        )
    return changed


# Managing one's subscriptions -------------------------------------------------


def request_manage_link(addr: Address) -> None:
    """Mail a manage link to a known address; unknown addresses get nothing."""
    if not throttle.allow_mail_to(addr.key):
        log.info("manage link request throttled")
        return
    member = services.find_member(addr.email)
    if member is None:
        return
    notices.send_template(
        "manage",
        [member.email],
        {
            "address": member.email,
            "manage_url": links.manage_url(member.email),
            "expires_days": settings.CONFIRM_LINK_DAYS,
        },
    )


def read_manage(token: str) -> str:
    try:
        email = tokens.read_manage_token(token, max_age=link_max_age())
        return parse(email).email
    except tokens.BadToken as exc:
        raise LinkError(_("This link cannot be used: %(problem)s.") % {"problem": exc}) from None
    except InvalidAddress:
        raise LinkError(_("This link cannot be used.")) from None


@dataclass
class Overview:
    email: str
    subscriptions: list[Subscription]
    joinable: list[MailingList]


def overview(email: str) -> Overview:
    member = services.find_member(email)
    subs: list[Subscription] = []
    if member is not None:
        subs = list(
            member.subscriptions.select_related("mailing_list").order_by(
                "mailing_list__domain", "mailing_list__local_part"
            )
        )
    # Lists left earlier show in `subscriptions` with a "join again" button.
    current = {s.mailing_list_id for s in subs}
    joinable = [ml for ml in MailingList.objects.filter(public=True) if ml.id not in current]
    return Overview(email, subs, joinable)


def own_subscription(email: str, list_id: int) -> Subscription | None:
    member = services.find_member(email)
    if member is None:
        return None
    return (
        member.subscriptions.select_related("mailing_list", "member")
        .filter(mailing_list_id=list_id)
        .first()
    )


def joinable_lists() -> QuerySet[MailingList]:
    return MailingList.objects.filter(public=True)


def join_verified(ml: MailingList, email: str) -> services.SubscribeResult:
    """Join from a manage link: the address is proven, so no confirmation round.

    Raises services.Banned.
    """
    return confirm(ml, email)
