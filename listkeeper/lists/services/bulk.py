"""Subscribing many addresses at once (imports, bulk add): few statements per batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models, router, transaction
from django.utils import timezone

from listkeeper.lib.addresses import Address
from listkeeper.lists import bans
from listkeeper.lists.models import (
    MailingList,
    Member,
    Source,
    Status,
    Subscription,
)
from listkeeper.lists.services.core import audit

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


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is a reverse relation, not a column")
    return field


def _column(field: models.Field[Any, Any]) -> str:
    # Only fields without a column of their own (none of these) have column None.
    if field.column is None:
        raise TypeError(f"{field.name} has no column")
    return field.column


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
    varying_fields = [_field(model, name) for name in varying]
    fixed_fields = [
        f for f in model._meta.concrete_fields if not f.primary_key and f not in varying_fields
    ]
    fixed = [
        f.get_db_prep_save(constant.get(f.name, constant.get(f.attname, f.get_default())), conn)
        for f in fixed_fields
    ]
    columns = ", ".join(qn(_column(f)) for f in [*varying_fields, *fixed_fields])
    table = qn(model._meta.db_table)
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            arrays = ", ".join(f"%s::{f.db_type(conn)}[]" for f in varying_fields)
            values = ", ".join(f"%s::{f.db_type(conn)}" for f in fixed_fields)
            back = ", ".join(qn(_column(_field(model, name))) for name in returning)
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
