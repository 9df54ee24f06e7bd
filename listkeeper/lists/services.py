"""The only code that changes lists and membership.

Web views, the API, commands, imports and email commands call these functions,
so validation, dedupe and the audit log happen in one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone

from listkeeper.lib.addresses import Address, InvalidAddress, address_key, parse
from listkeeper.lists import bans
from listkeeper.lists.models import (
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
from listkeeper.lists.models import ListSender, SenderKind  # posting rights (add_list_sender)

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
            if MailingList.objects.filter(domain=domain, local_part=base).exclude(
                id=exclude_id
            ).exists():
                raise ListAddressError(
                    f"{local_part}@{domain} is the {suffix} address of the list {base}@{domain}"
                )
    others = MailingList.objects.filter(domain=domain).exclude(id=exclude_id)
    if others.filter(local_part=local_part).exists():
        raise ListAddressError(f"the list {local_part}@{domain} already exists")
    clashing = [f"{local_part}-{s}" for s in LIST_SUFFIXES]
    clash = others.filter(local_part__in=clashing).first()
    if clash:
        raise ListAddressError(
            f"a list named {local_part} would own {clash.local_part}@{domain}, "
            "which is already a list"
        )


def create_list(
    local_part: str, domain: str, *, actor: str, **settings: Any
) -> MailingList:
    local_part = local_part.strip().lower()
    domain = domain.strip().lower()
    with transaction.atomic():
        check_list_address(local_part, domain)
        ml = MailingList.objects.create(local_part=local_part, domain=domain, **settings)
        audit(actor, "list.create", mailing_list=ml, address=ml.address)
    return ml


def update_list(ml: MailingList, *, actor: str, **changes: Any) -> MailingList:
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
        raise ServiceError(f"{kind!r} is not a sender kind; choose one of {', '.join(SenderKind.values)}")
    wanted = {}
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


def get_or_create_member(address: Address | str, *, actor: str, name: str = "") -> tuple[Member, bool]:
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
        member, _ = get_or_create_member(addr, actor=actor, name=name)
        sub = Subscription.objects.select_for_update().filter(member=member, mailing_list=ml).first()
        if sub is None:
            sub = Subscription.objects.create(
                member=member, mailing_list=ml, role=role, status=status, source=source,
                member_key=member.key,
            )
            audit(actor, "subscribe", mailing_list=ml, member=member, role=role, status=status, source=source)
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
        audit(actor, "resubscribe", mailing_list=ml, member=member, old=old, status=status, source=source)
        return SubscribeResult(sub, "reactivated")


def unsubscribe(sub: Subscription, *, actor: str, reason: str = "") -> bool:
    """Stop a subscription. Idempotent: False when it was already stopped."""
    with transaction.atomic():
        updated = Subscription.objects.filter(id=sub.id).exclude(status=Status.UNSUBSCRIBED).update(
            status=Status.UNSUBSCRIBED, updated=timezone.now()
        )
        if updated:
            audit(actor, "unsubscribe", mailing_list=sub.mailing_list, member=sub.member, reason=reason)
    sub.status = Status.UNSUBSCRIBED
    return bool(updated)


def remove(sub: Subscription, *, actor: str) -> None:
    """Delete a subscription outright (the owner removed the member)."""
    with transaction.atomic():
        audit(actor, "remove", mailing_list=sub.mailing_list, member=sub.member, address=sub.member.email)
        sub.delete()


def set_role(sub: Subscription, role: str, *, actor: str) -> None:
    if role not in Role.values:
        raise ServiceError(f"{role!r} is not a role; choose one of {', '.join(Role.values)}")
    if sub.role != role:
        old, sub.role = sub.role, role
        sub.updated = timezone.now()
        sub.save(update_fields=["role", "updated"])
        audit(actor, "role", mailing_list=sub.mailing_list, member=sub.member, old=old, new=role)


def set_delivery(sub: Subscription, delivery: str, *, actor: str) -> None:
    if delivery not in DeliveryMode.values:
        raise ServiceError(f"{delivery!r} is not a delivery mode; choose regular or nomail")
    if sub.delivery != delivery:
        old, sub.delivery = sub.delivery, delivery
        sub.updated = timezone.now()
        sub.save(update_fields=["delivery", "updated"])
        audit(actor, "delivery", mailing_list=sub.mailing_list, member=sub.member, old=old, new=delivery)


def set_status(sub: Subscription, status: str, *, actor: str, reason: str = "") -> None:
    if sub.status != status:
        old, sub.status = sub.status, status
        sub.updated = timezone.now()
        sub.disabled_reason = reason if status == Status.DISABLED else ""
        if status == Status.ACTIVE:
            sub.bounce_score = 0.0
        sub.save(update_fields=["status", "updated", "disabled_reason", "bounce_score"])
        audit(actor, "status", mailing_list=sub.mailing_list, member=sub.member, old=old, new=status, reason=reason)
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
            audit(actor, "ban.add", mailing_list=ml, pattern=clean, reason=reason,
                  scope="list" if ml else "site")
    return ban


def remove_ban(ban: Ban, *, actor: str) -> None:
    with transaction.atomic():
        audit(actor, "ban.remove", mailing_list=ban.mailing_list, pattern=ban.pattern,
              scope="list" if ban.mailing_list_id else "site")
        ban.delete()


# Bulk ----------------------------------------------------------------------


@dataclass
class BulkResult:
    added: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    banned: list[str] = field(default_factory=list)
    members_created: int = 0


def bulk_subscribe(
    ml: MailingList,
    addresses: Iterable[Address],
    *,
    actor: str,
    source: str = Source.IMPORT,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> BulkResult:
    """Subscribe many already-parsed addresses in few queries (imports of 100,000).

    Duplicates within `addresses` are merged; addresses already active are
    counted as `already` and left alone; banned ones are skipped and listed in
    `banned`. One audit entry sums up the batch.
    `progress(n)` is called after each committed batch of n addresses.
    """
    result = BulkResult()
    unique: dict[str, Address] = {}
    for addr in addresses:
        unique.setdefault(addr.key, addr)
    banned = bans.banned_among(ml, unique)
    for key in banned:
        result.banned.append(unique.pop(key).email)
    items = list(unique.values())
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        with transaction.atomic():
            _bulk_chunk(ml, chunk, source, result)
        if progress is not None:
            progress(len(chunk))
    audit(
        actor,
        "bulk_subscribe",
        mailing_list=ml,
        added=len(result.added),
        reactivated=len(result.reactivated),
        already=len(result.already),
        banned=len(result.banned),
        source=source,
    )
    return result


def _bulk_chunk(ml: MailingList, chunk: list[Address], source: str, result: BulkResult) -> None:
    keys = [a.key for a in chunk]
    found = list(Member.objects.filter(key__in=keys).values_list("key", "id", "name"))
    existing = {key: member_id for key, member_id, _ in found}
    # Like get_or_create_member: a name fills in a member's empty name, never replaces one.
    unnamed = {key: member_id for key, member_id, name in found if not name}
    named = [Member(id=unnamed[a.key], name=a.name) for a in chunk if a.name and a.key in unnamed]
    if named:
        Member.objects.bulk_update(named, ["name"])
    now = timezone.now()
    new = [(a.email, a.key, a.name) for a in chunk if a.key not in existing]
    if new:
        returned = _insert_ignoring_conflicts(
            Member, ["email", "key", "name"], new, created=now, returning=("key", "id")
        )
        if returned is not None and len(returned) == len(new):
            existing.update(returned)
        else:  # no RETURNING here, or another process created some of them meanwhile
            existing = dict(Member.objects.filter(key__in=keys).values_list("key", "id"))
        result.members_created += len(new)
    subs = dict(
        Subscription.objects.filter(mailing_list=ml, member_id__in=existing.values()).values_list(
            "member_id", "status"
        )
    )
    to_create, to_reactivate = [], []
    for addr in chunk:
        member_id = existing[addr.key]
        status = subs.get(member_id)
        if status is None:
            to_create.append((member_id, addr.key))
            result.added.append(addr.email)
        elif status == Status.ACTIVE:
            result.already.append(addr.email)
        else:
            to_reactivate.append(member_id)
            result.reactivated.append(addr.email)
    if to_create:
        _insert_ignoring_conflicts(
            Subscription,
            ["member", "member_key"],
            to_create,
            mailing_list=ml.id,
            source=source,
            created=now,
            updated=now,
        )
    if to_reactivate:
        Subscription.objects.filter(mailing_list=ml, member_id__in=to_reactivate).update(
            status=Status.ACTIVE, updated=now, bounce_score=0.0, disabled_reason=""
        )


# Bounces and complaints ------------------------------------------------------
#
# Scoring follows GNU Mailman: at most one point a day, the score goes stale
# (back to zero) after a week without bounces, and delivery is disabled when it
# reaches the list's bounce_score_threshold.

BOUNCE_SCORE_STALE_AFTER = timedelta(days=7)


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
        sub = Subscription.objects.select_for_update().select_related("mailing_list", "member").get(id=sub.id)
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
            actor, "bounce.soft", mailing_list=sub.mailing_list, member=sub.member,
            score=sub.bounce_score, reason=reason[:300],
        )
        threshold = sub.mailing_list.bounce_score_threshold
        if sub.bounce_score >= threshold:
            set_status(
                sub, Status.DISABLED, actor=actor,
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


# Posting rights beyond membership ------------------------------------------


def add_list_sender(ml: MailingList, address: str, kind: str, *, actor: str) -> ListSender:
    """Let an address post (ALLOWED: a non-member always allowed; POSTER: announce-only)."""
    if kind not in SenderKind.values:
        raise ServiceError(f"{kind!r} is not a kind of sender; choose one of {', '.join(SenderKind.values)}")
    addr = parse(address)
    sender, created = ListSender.objects.get_or_create(
        mailing_list=ml, key=addr.key, kind=kind, defaults={"email": addr.email}
    )
    if created:
        audit(actor, "sender.add", mailing_list=ml, address=addr.email, kind=kind)
    return sender


def remove_list_sender(sender: ListSender, *, actor: str) -> None:
    with transaction.atomic():
        audit(actor, "sender.remove", mailing_list=sender.mailing_list, address=sender.email, kind=sender.kind)
        sender.delete()


def _insert_ignoring_conflicts(
    model: type[models.Model],
    varying: list[str],
    rows: list[tuple[Any, ...]],
    returning: tuple[str, ...] = (),
    **constant: Any,
) -> list[tuple[Any, ...]] | None:
    """INSERT ... ON CONFLICT DO NOTHING of many rows in one round trip.

    bulk_create builds a model instance per row, most of an import's time;
    here only the `varying` columns differ per row, every other column takes
    the value in `constant` or the field's default, prepared once.
    PostgreSQL gets the varying columns as arrays (one statement, two or three
    parameters) and returns the `returning` columns of the inserted rows;
    SQLite, in-process, runs one prepared statement many times and returns None.
    """
    if not rows:
        return []
    conn = connections[router.db_for_write(model)]
    qn = conn.ops.quote_name
    varying_fields = [model._meta.get_field(name) for name in varying]
    fixed_fields = [
        f for f in model._meta.concrete_fields if not f.primary_key and f not in varying_fields
    ]
    fixed = [
        f.get_db_prep_save(constant.get(f.name, constant.get(f.attname, f.get_default())), conn)
        for f in fixed_fields
    ]
    columns = ", ".join(qn(f.column) for f in [*varying_fields, *fixed_fields])
    table = qn(model._meta.db_table)
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            arrays = ", ".join(f"%s::{f.db_type(conn)}[]" for f in varying_fields)
            values = ", ".join(f"%s::{f.db_type(conn)}" for f in fixed_fields)
            back = ", ".join(qn(model._meta.get_field(name).column) for name in returning)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT v.*, {values} "
                f"FROM unnest({arrays}) AS v ON CONFLICT DO NOTHING"
                + (f" RETURNING {back}" if returning else ""),
                [*fixed, *([row[i] for row in rows] for i in range(len(varying_fields)))],
            )
            return [tuple(r) for r in cursor.fetchall()] if returning else []
        else:
            marks = ", ".join(["%s"] * (len(varying_fields) + len(fixed_fields)))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                [(*row, *fixed) for row in rows],
            )
            return None
