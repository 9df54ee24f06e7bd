"""Lists, members, subscriptions, bans and posting rights.

Web views, the API, commands, imports and email commands call these functions,
so validation, dedupe and the audit log happen in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import available_timezones

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from listkeeper.lib.addresses import Address, InvalidAddress, address_key, parse
from listkeeper.lists import bans
from listkeeper.lists.models import (
    DIGEST_MODES,
    LIST_SUFFIXES,
    AuditEntry,
    Ban,
    DeliveryMode,
    ListSender,
    MailingList,
    Member,
    Role,
    SenderKind,
    Source,
    Status,
    Subscription,
    Suppression,
)

LOCAL_PART_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62})$")


class ServiceError(ValueError):
    """A change that cannot be made; str() says why and what to do."""


class ListAddressError(ServiceError):
    pass


class Banned(ServiceError):
    """The address is banned from the list (or from the whole site)."""


SYSTEM = "system"


def audit(
    actor: str,
    action: str,
    *,
    mailing_list: MailingList | None = None,
    member: Member | None = None,
    **details: Any,
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor or SYSTEM,
        action=action,
        mailing_list=mailing_list,
        member=member,
        details=details,
    )


# Lists ---------------------------------------------------------------------


def _other_lists(domain: str, exclude_id: int | None) -> QuerySet[MailingList]:
    """The lists on DOMAIN other than the one being changed (none when creating)."""
    lists = MailingList.objects.filter(domain=domain)
    return lists if exclude_id is None else lists.exclude(id=exclude_id)


def check_list_address(local_part: str, domain: str, *, exclude_id: int | None = None) -> None:
    """Raise ListAddressError unless NAME@DOMAIN can be a new list's address."""
    if not LOCAL_PART_RE.match(local_part):
        raise ListAddressError(
            f"{local_part!r} cannot be a list name: use lowercase letters, digits, "
            "'.', '_' and '-', starting with a letter or digit, at most 63 characters"
        )
    try:
        parse(f"{local_part}@{domain}")
    except InvalidAddress as exc:
        raise ListAddressError(str(exc)) from None
    for suffix in LIST_SUFFIXES:
        if local_part.endswith(f"-{suffix}"):
            base = local_part[: -len(suffix) - 1]
            if _other_lists(domain, exclude_id).filter(local_part=base).exists():
                raise ListAddressError(
                    f"{local_part}@{domain} is the {suffix} address of the list {base}@{domain}"
                )
    others = _other_lists(domain, exclude_id)
    if others.filter(local_part=local_part).exists():
        raise ListAddressError(f"the list {local_part}@{domain} already exists")
    clashing = [f"{local_part}-{s}" for s in LIST_SUFFIXES]
    clash = others.filter(local_part__in=clashing).first()
    if clash:
        raise ListAddressError(
            f"a list named {local_part} would own {clash.local_part}@{domain}, "
            "which is already a list"
        )


def check_settings(settings: dict[str, Any]) -> None:
    """Raise ServiceError for a list setting no list can have."""
    zone = settings.get("time_zone")
    if zone is not None and zone not in available_timezones():
        raise ServiceError(
            _("%(zone)s is not a time zone; use an IANA name such as Europe/Berlin or UTC")
            % {"zone": repr(zone)}
        )
    hour = settings.get("digest_hour")
    if hour is not None and not 0 <= hour <= 23:
        raise ServiceError(_("the digest hour must be 0 to 23, not %(hour)s") % {"hour": hour})
    weekday = settings.get("digest_weekday")
    if weekday is not None and not 0 <= weekday <= 6:
        raise ServiceError(
            _("the digest weekday must be 0 (Monday) to 6 (Sunday), not %(weekday)s")
            % {"weekday": weekday}
        )


def create_list(local_part: str, domain: str, *, actor: str, **settings: Any) -> MailingList:
    check_settings(settings)
    local_part = local_part.strip().lower()
    domain = domain.strip().lower()
    with transaction.atomic():
        check_list_address(local_part, domain)
        ml = MailingList.objects.create(local_part=local_part, domain=domain, **settings)
        audit(actor, "list.create", mailing_list=ml, address=ml.address)
    return ml


def update_list(ml: MailingList, *, actor: str, **changes: Any) -> MailingList:
    check_settings(changes)
    changed = {}
    for name, value in changes.items():
        if getattr(ml, name) != value:
            changed[name] = [_jsonable(getattr(ml, name)), _jsonable(value)]
            setattr(ml, name, value)
    if changed:
        with transaction.atomic():
            ml.save()
            audit(actor, "list.update", mailing_list=ml, changes=changed)
    return ml


def delete_list(ml: MailingList, *, actor: str) -> None:
    with transaction.atomic():
        count = ml.subscriptions.count()
        audit(actor, "list.delete", address=ml.address, subscriptions=count)
        ml.delete()


def set_senders(ml: MailingList, kind: str, addresses: Iterable[str], *, actor: str) -> None:
    """Make the list's senders of `kind` exactly `addresses` (poster or allowed)."""
    if kind not in SenderKind.values:
        raise ServiceError(
            f"{kind!r} is not a sender kind; choose one of {', '.join(SenderKind.values)}"
        )
    wanted: dict[str, str] = {}
    for raw in addresses:
        addr = parse(raw) if isinstance(raw, str) else raw
        wanted.setdefault(addr.key, addr.email)
    with transaction.atomic():
        current = dict(ml.senders.filter(kind=kind).values_list("key", "email"))
        gone = set(current) - set(wanted)
        new = [k for k in wanted if k not in current]
        if not gone and not new:
            return
        ml.senders.filter(kind=kind, key__in=gone).delete()
        ListSender.objects.bulk_create(
            [ListSender(mailing_list=ml, email=wanted[k], key=k, kind=kind) for k in new]
        )
        audit(
            actor,
            "list.senders",
            mailing_list=ml,
            kind=kind,
            added=[wanted[k] for k in new],
            removed=[current[k] for k in gone],
        )


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


# Members -------------------------------------------------------------------


def find_member(address: str) -> Member | None:
    try:
        key = parse(address).key
    except InvalidAddress:
        key = address_key(address)
    return Member.objects.filter(key=key).first()


def get_or_create_member(
    address: Address | str, *, actor: str, name: str = ""
) -> tuple[Member, bool]:
    """The one member for this address (case-insensitive), created if new."""
    addr = parse(address) if isinstance(address, str) else address
    name = name or addr.name
    member = Member.objects.filter(key=addr.key).first()
    if member:
        if name and not member.name:
            member.name = name
            member.save(update_fields=["name"])
        return member, False
    try:
        with transaction.atomic():
            member = Member.objects.create(email=addr.email, key=addr.key, name=name)
    except IntegrityError:  # created concurrently
        return Member.objects.get(key=addr.key), False
    audit(actor, "member.create", member=member, address=member.email)
    return member, True


def rename_member(member: Member, name: str, *, actor: str) -> None:
    if member.name != name:
        old, member.name = member.name, name
        member.save(update_fields=["name"])
        audit(actor, "member.rename", member=member, old=old, new=name)


def set_language(member: Member, language: str, *, actor: str) -> None:
    """The member's preferred language for notices; "" for the site's default."""
    if member.language != language:
        old, member.language = member.language, language
        member.save(update_fields=["language"])
        audit(actor, "member.language", member=member, old=old, new=language)


def change_address(member: Member, new_address: str, *, actor: str) -> Member:
    """Give a member a new address; merge into the member who already has it.

    Returns the member that remains.
    """
    addr = parse(new_address)
    with transaction.atomic():
        other = Member.objects.filter(key=addr.key).exclude(id=member.id).first()
        if other is None:
            old = member.email
            member.email, member.key = addr.email, addr.key
            member.save(update_fields=["email", "key"])
            member.subscriptions.update(member_key=addr.key)
            audit(actor, "member.change_address", member=member, old=old, new=addr.email)
            return member
        # Merge: keep the other member; move subscriptions it lacks.
        for sub in member.subscriptions.all():
            mine = other.subscriptions.filter(mailing_list_id=sub.mailing_list_id).first()
            if mine is None:
                sub.member, sub.member_key = other, other.key
                sub.save(update_fields=["member", "member_key"])
            elif mine.status != Status.ACTIVE and sub.status == Status.ACTIVE:
                mine.status, mine.updated = Status.ACTIVE, timezone.now()
                mine.save(update_fields=["status", "updated"])
        if member.name and not other.name:
            other.name = member.name
            other.save(update_fields=["name"])
        audit(actor, "member.merge", member=other, merged=member.email, into=other.email)
        member.delete()
        return other


def erase_member(member: Member, *, actor: str) -> None:
    """Remove a person entirely (data-protection request); the log keeps no address."""
    with transaction.atomic():
        lists = list(member.subscriptions.values_list("mailing_list_id", flat=True))
        AuditEntry.objects.filter(member=member).update(details={"erased": True})
        member.delete()
        audit(actor, "member.erase", lists=len(lists))


# Subscriptions -------------------------------------------------------------


@dataclass
class SubscribeResult:
    subscription: Subscription
    outcome: str  # "created", "reactivated" or "already"

    @property
    def changed(self) -> bool:
        return self.outcome != "already"


def subscribe(
    ml: MailingList,
    address: Address | str,
    *,
    actor: str,
    source: str = Source.WEB,
    name: str = "",
    role: str = Role.MEMBER,
    status: str = Status.ACTIVE,
    confirmed: bool = False,
) -> SubscribeResult:
    """Put an address on a list. Raises InvalidAddress for a bad address.

    An address already active on the list is left as it is ("already"); one
    that had left, or was pending or disabled, is made `status` again.
    A subscription the address itself confirmed (`confirmed`, or pending made
    active) lifts its suppression: after a complaint or a hard bounce, that is
    the one way back to receiving mail.
    Raises Banned for an address banned from this list or the site.
    """
    addr = parse(address) if isinstance(address, str) else address
    if bans.is_banned(ml, addr.email):
        raise Banned(f"{addr.email} is banned from {ml.address} and cannot subscribe")
    with transaction.atomic():
        member, _created = get_or_create_member(addr, actor=actor, name=name)
        sub = (
            Subscription.objects.select_for_update().filter(member=member, mailing_list=ml).first()
        )
        if sub is None:
            sub = Subscription.objects.create(
                member=member,
                mailing_list=ml,
                role=role,
                status=status,
                source=source,
                member_key=member.key,
            )
            audit(
                actor,
                "subscribe",
                mailing_list=ml,
                member=member,
                role=role,
                status=status,
                source=source,
            )
            if confirmed and status == Status.ACTIVE:
                unsuppress(member.key, actor=actor, why="confirmed subscription")
            return SubscribeResult(sub, "created")
        if status == Status.ACTIVE and (confirmed or sub.status == Status.PENDING):
            unsuppress(member.key, actor=actor, why="confirmed subscription")
        if sub.status == status or (sub.status == Status.ACTIVE and status == Status.PENDING):
            return SubscribeResult(sub, "already")
        old = sub.status
        sub.status, sub.updated, sub.source = status, timezone.now(), source
        sub.bounce_score, sub.disabled_reason = 0.0, ""
        sub.save(update_fields=["status", "updated", "source", "bounce_score", "disabled_reason"])
        audit(
            actor,
            "resubscribe",
            mailing_list=ml,
            member=member,
            old=old,
            status=status,
            source=source,
        )
        return SubscribeResult(sub, "reactivated")


def unsubscribe(sub: Subscription, *, actor: str, reason: str = "") -> bool:
    """Stop a subscription. Idempotent: False when it was already stopped."""
    with transaction.atomic():
        updated = (
            Subscription.objects.filter(id=sub.id)
            .exclude(status=Status.UNSUBSCRIBED)
            .update(status=Status.UNSUBSCRIBED, updated=timezone.now())
        )
        if updated:
            audit(
                actor,
                "unsubscribe",
                mailing_list=sub.mailing_list,
                member=sub.member,
                reason=reason,
            )
    sub.status = Status.UNSUBSCRIBED
    return bool(updated)


def remove(sub: Subscription, *, actor: str) -> None:
    """Delete a subscription outright (the owner removed the member)."""
    with transaction.atomic():
        audit(
            actor,
            "remove",
            mailing_list=sub.mailing_list,
            member=sub.member,
            address=sub.member.email,
        )
        sub.delete()


def set_role(sub: Subscription, role: str, *, actor: str) -> None:
    if role not in Role.values:
        raise ServiceError(f"{role!r} is not a role; choose one of {', '.join(Role.values)}")
    _change_field(sub, "role", role, actor=actor)


def set_delivery(sub: Subscription, delivery: str, *, actor: str) -> str:
    """Choose how a member gets the list's mail; returns when it takes effect.

    "now", or "next-digest" for a switch between each post and a digest
    (either way, or from no mail to a digest): that waits until the list's
    pending digest issue is cut, so no post is missed or received twice
    (docs/digests.md). Choosing the current mode again cancels a waiting switch.
    """
    if delivery not in DeliveryMode.values:
        raise ServiceError(
            f"{delivery!r} is not a delivery mode; choose one of {', '.join(DeliveryMode.values)}"
        )
    ml = sub.mailing_list
    if delivery in DIGEST_MODES and not ml.digests_enabled and sub.delivery not in DIGEST_MODES:
        raise ServiceError(
            _(
                "%(list)s sends no digests; choose regular or nomail, "
                "or ask an owner to allow digests"
            )
            % {"list": ml.address}
        )
    with transaction.atomic():
        if _switch_waits(sub.delivery, delivery):
            if sub.delivery_next != delivery:
                old = sub.delivery_next or sub.delivery
                sub.delivery_next, sub.updated = delivery, timezone.now()
                sub.save(update_fields=["delivery_next", "updated"])
                audit(
                    actor,
                    "delivery",
                    mailing_list=ml,
                    member=sub.member,
                    old=old,
                    new=delivery,
                    effective="next-digest",
                )
            return "next-digest"
        if sub.delivery_next:
            sub.delivery_next = ""
            sub.save(update_fields=["delivery_next"])
            if sub.delivery == delivery:
                audit(actor, "delivery", mailing_list=ml, member=sub.member, cancelled=True)
        _change_field(sub, "delivery", delivery, actor=actor)
    return "now"


def _switch_waits(current: str, wanted: str) -> bool:
    """Regular <-> digest, and no mail -> digest, wait for the next digest issue."""
    if current == wanted:
        return False
    if wanted in DIGEST_MODES:
        return current not in DIGEST_MODES
    return wanted == DeliveryMode.REGULAR and current in DIGEST_MODES


def apply_waiting_deliveries(ml: MailingList, *, actor: str = SYSTEM) -> int:
    """Make the waiting delivery switches of `ml` take effect (a digest issue was just cut)."""
    count = 0
    waiting = Subscription.objects.filter(mailing_list=ml).exclude(delivery_next="")
    for sub in waiting.select_related("member", "mailing_list"):
        new, sub.delivery_next = sub.delivery_next, ""
        sub.save(update_fields=["delivery_next"])
        _change_field(sub, "delivery", new, actor=actor)
        count += 1
    return count


def _change_field(sub: Subscription, field: str, value: str, *, actor: str) -> None:
    """Set one subscription field; audited as action `field` with old and new."""
    old = getattr(sub, field)
    if old != value:
        setattr(sub, field, value)
        sub.updated = timezone.now()
        sub.save(update_fields=[field, "updated"])
        audit(actor, field, mailing_list=sub.mailing_list, member=sub.member, old=old, new=value)


def set_status(sub: Subscription, status: str, *, actor: str, reason: str = "") -> None:
    if sub.status != status:
        old, sub.status = sub.status, status
        sub.updated = timezone.now()
        sub.disabled_reason = reason if status == Status.DISABLED else ""
        if status == Status.ACTIVE:
            sub.bounce_score = 0.0
        sub.save(update_fields=["status", "updated", "disabled_reason", "bounce_score"])
        audit(
            actor,
            "status",
            mailing_list=sub.mailing_list,
            member=sub.member,
            old=old,
            new=status,
            reason=reason,
        )
        if old == Status.DISABLED and status == Status.ACTIVE:
            # An owner re-enabling a bounced member vouches for the address;
            # a complaint's suppression stays until the member confirms anew.
            unsuppress(sub.member.key, actor=actor, why="re-enabled", bulk_only_too=False)


# Bans ----------------------------------------------------------------------


def add_ban(ml: MailingList | None, pattern: str, *, actor: str, reason: str = "") -> Ban:
    """Ban an address or pattern from `ml`, or site-wide with None.

    Raises bans.BadPattern (a ValueError) for a pattern that cannot be used.
    Existing members who match stay subscribed; the ban stops them posting
    and joining again.
    """
    clean = bans.clean_pattern(pattern)
    with transaction.atomic():
        ban, created = Ban.objects.get_or_create(
            mailing_list=ml, pattern=clean, defaults={"reason": reason}
        )
        if created:
            audit(
                actor,
                "ban.add",
                mailing_list=ml,
                pattern=clean,
                reason=reason,
                scope="list" if ml else "site",
            )
    return ban


def remove_ban(ban: Ban, *, actor: str) -> None:
    with transaction.atomic():
        audit(
            actor,
            "ban.remove",
            mailing_list=ban.mailing_list,
            pattern=ban.pattern,
            scope="list" if ban.mailing_list_id else "site",
        )
        ban.delete()


# Suppression -----------------------------------------------------------------


def suppress(key: str, reason: str, *, bulk_only: bool, actor: str) -> Suppression:
    """Put an address on the site-wide suppression list (a full one wins over bulk-only)."""
    with transaction.atomic():
        row, created = Suppression.objects.select_for_update().get_or_create(
            key=key, defaults={"reason": reason[:300], "bulk_only": bulk_only}
        )
        if not created and row.bulk_only and not bulk_only:
            row.bulk_only, row.reason = False, reason[:300]
            row.save(update_fields=["bulk_only", "reason"])
            created = True
        if created:
            member = Member.objects.filter(key=key).first()
            audit(actor, "suppress", member=member, reason=reason, bulk_only=row.bulk_only)
    return row


def unsuppress(key: str, *, actor: str, why: str, bulk_only_too: bool = True) -> bool:
    """Lift a suppression; a complaint's (bulk-only) one only when `bulk_only_too`."""
    rows = Suppression.objects.filter(key=key)
    if not bulk_only_too:
        rows = rows.filter(bulk_only=False)
    row = rows.first()
    if row is None:
        return False
    row.delete()
    member = Member.objects.filter(key=key).first()
    audit(actor, "unsuppress", member=member, reason=row.reason, why=why)
    return True


# Posting rights beyond membership ------------------------------------------


def add_list_sender(ml: MailingList, address: str, kind: str, *, actor: str) -> ListSender:
    """Let an address post (ALLOWED: a non-member always allowed; POSTER: announce-only)."""
    if kind not in SenderKind.values:
        raise ServiceError(
            f"{kind!r} is not a kind of sender; choose one of {', '.join(SenderKind.values)}"
        )
    addr = parse(address)
    sender, created = ListSender.objects.get_or_create(
        mailing_list=ml, key=addr.key, kind=kind, defaults={"email": addr.email}
    )
    if created:
        audit(actor, "sender.add", mailing_list=ml, address=addr.email, kind=kind)
    return sender


def remove_list_sender(sender: ListSender, *, actor: str) -> None:
    with transaction.atomic():
        audit(
            actor,
            "sender.remove",
            mailing_list=sender.mailing_list,
            address=sender.email,
            kind=sender.kind,
        )
        sender.delete()
