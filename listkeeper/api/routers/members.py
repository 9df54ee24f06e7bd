"""A list's subscriptions, and members (people) across lists."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from ninja import Body, Query, Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError
from pydantic import Field

from listkeeper.api import access
from listkeeper.api.auth import actor
from listkeeper.api.schemas import (
    BulkIn,
    BulkOut,
    BulkRowIn,
    DeliveryValue,
    Error,
    MemberOut,
    MemberUpdate,
    RoleValue,
    StatusValue,
    SubscribeIn,
    SubscribeOut,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionUpdate,
)
from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists import permissions, services
from listkeeper.lists.models import Member, Source, Subscription

router = Router(tags=["members"])

MAX_BULK_ROWS = 10_000


def sub_out(sub: Subscription) -> dict:
    return {
        "id": sub.id,
        "member_id": sub.member_id,
        "email": sub.member.email,
        "name": sub.member.name,
        "status": sub.status,
        "role": sub.role,
        "delivery": sub.delivery,
        "delivery_next": sub.delivery_next,
        "moderated": sub.moderated,
        "source": sub.source,
        "created": sub.created,
        "updated": sub.updated,
    }


class MemberFilters(Schema):
    q: str = Field("", description="Part of the address or name")
    status: StatusValue | None = None
    role: RoleValue | None = None
    delivery: DeliveryValue | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=500)


@router.get(
    "/lists/{int:list_id}/members",
    response={200: SubscriptionPage, 404: Error},
    summary="A list's subscriptions, by address",
)
def list_members(request: HttpRequest, list_id: int, filters: Query[MemberFilters]) -> dict:
    ml = access.visible_list(request, list_id)
    subs = Subscription.objects.filter(mailing_list=ml).select_related("member")
    if filters.q:
        subs = subs.filter(
            Q(member__key__icontains=filters.q) | Q(member__name__icontains=filters.q)
        )
    for name in ("status", "role", "delivery"):
        value = getattr(filters, name)
        if value:
            subs = subs.filter(**{name: value})
    subs = subs.order_by("member__key")
    start = (filters.page - 1) * filters.page_size
    return {
        "count": subs.count(),
        "page": filters.page,
        "page_size": filters.page_size,
        "items": [sub_out(s) for s in subs[start : start + filters.page_size]],
    }


@router.post(
    "/lists/{int:list_id}/members",
    response={200: SubscribeOut, 201: SubscribeOut, 403: Error, 404: Error, 422: Error},
    summary="Subscribe one address (201; 200 if it was already active)",
)
def add_member(request: HttpRequest, list_id: int, body: SubscribeIn) -> Reply:
    ml = access.managed_list(request, list_id)
    with transaction.atomic():
        result = services.subscribe(
            ml,
            body.address,
            actor=actor(request),
            source=Source.API,
            name=body.name,
            role=body.role,
        )
        sub = result.subscription
        if result.outcome == "created" and body.delivery:
            services.set_delivery(sub, body.delivery, actor=actor(request))
    sub = Subscription.objects.select_related("member").get(id=sub.id)
    code = 200 if result.outcome == "already" else 201
    return Reply(code, {"outcome": result.outcome, "subscription": sub_out(sub)})


@router.post(
    "/lists/{int:list_id}/members/bulk",
    response={200: BulkOut, 403: Error, 404: Error, 422: Error},
    summary="Subscribe many addresses; valid rows are kept, invalid ones reported",
)
def bulk_add(request: HttpRequest, list_id: int, rows: Body[BulkIn]) -> dict:
    ml = access.managed_list(request, list_id)
    if len(rows) > MAX_BULK_ROWS:
        raise HttpError(
            422, f"{len(rows)} rows in one request; send at most {MAX_BULK_ROWS} per request"
        )
    out: list[dict] = []
    first_row: dict[str, int] = {}
    valid: list[Address] = []
    for i, row in enumerate(rows):
        text = row.address if isinstance(row, BulkRowIn) else row
        try:
            addr = parse(text)
        except InvalidAddress as exc:
            out.append({"row": i, "input": text, "outcome": "invalid", "error": str(exc)})
            continue
        if isinstance(row, BulkRowIn) and row.name:
            addr = Address(addr.email, row.name)
        if addr.key in first_row:
            out.append(
                {
                    "row": i,
                    "input": text,
                    "outcome": "duplicate",
                    "email": addr.email,
                    "error": f"same address as row {first_row[addr.key]}",
                }
            )
            continue
        first_row[addr.key] = i
        valid.append(addr)
        out.append({"row": i, "input": text, "outcome": "", "email": addr.email})
    result = services.bulk_subscribe(ml, valid, actor=actor(request), source=Source.API)
    outcome = {e.lower(): "added" for e in result.added}
    outcome.update({e.lower(): "reactivated" for e in result.reactivated})
    outcome.update({e.lower(): "already" for e in result.already})
    outcome.update({e.lower(): "banned" for e in result.banned})
    for item in out:
        if not item["outcome"]:
            item["outcome"] = outcome[item["email"].lower()]
            if item["outcome"] == "banned":
                item["error"] = f"{item['email']} is banned from {ml.address}"
    counts = {k: 0 for k in ("added", "reactivated", "already", "banned", "duplicate", "invalid")}
    for item in out:
        counts[item["outcome"]] += 1
    return {**counts, "rows": out}


@router.get(
    "/lists/{int:list_id}/members/{address}",
    response={200: SubscriptionOut, 404: Error},
)
def get_subscription(request: HttpRequest, list_id: int, address: str) -> dict:
    ml = access.visible_list(request, list_id)
    return sub_out(access.subscription(ml, address))


@router.patch(
    "/lists/{int:list_id}/members/{address}",
    response={200: SubscriptionOut, 403: Error, 404: Error, 422: Error},
    summary="Change a subscription's role or delivery",
    description="A switch between `regular` and a digest (`digest`, `digest-plain`) takes "
    "effect when the list's next digest issue is cut, so no post is missed or received twice: "
    "until then it shows as `delivery_next`. Other changes take effect at once.",
)
def update_subscription(
    request: HttpRequest, list_id: int, address: str, body: SubscriptionUpdate
) -> dict:
    ml = access.managed_list(request, list_id)
    sub = access.subscription(ml, address)
    with transaction.atomic():
        if body.role is not None:
            services.set_role(sub, body.role, actor=actor(request))
        if body.delivery is not None:
            services.set_delivery(sub, body.delivery, actor=actor(request))
    return sub_out(sub)


@router.delete(
    "/lists/{int:list_id}/members/{address}",
    response={204: None, 403: Error, 404: Error},
    summary="Remove an address from the list",
)
def remove_subscription(request: HttpRequest, list_id: int, address: str) -> Reply:
    ml = access.managed_list(request, list_id)
    services.remove(access.subscription(ml, address), actor=actor(request))
    return Reply(204, None)


# People across lists -------------------------------------------------------


def member_out(request: HttpRequest, member: Member) -> dict:
    subs = member.subscriptions.select_related("mailing_list").order_by("mailing_list__local_part")
    if not permissions.is_site_admin(access.user(request)):
        subs = subs.filter(mailing_list__in=permissions.managed_lists(access.user(request)))
    return {
        "id": member.id,
        "email": member.email,
        "name": member.name,
        "created": member.created,
        "lists": [
            {
                "list_id": s.mailing_list_id,
                "list_address": s.mailing_list.address,
                "status": s.status,
                "role": s.role,
                "delivery": s.delivery,
            }
            for s in subs
        ],
    }


@router.get(
    "/members/{address}",
    response={200: MemberOut, 404: Error},
    summary="A member and their subscriptions on lists you manage",
)
def get_member(request: HttpRequest, address: str) -> dict:
    return member_out(request, access.visible_member(request, address))


@router.patch(
    "/members/{address}",
    response={200: MemberOut, 403: Error, 404: Error, 422: Error},
    summary="Change a member's address (merging with an existing member) or name",
)
def update_member(request: HttpRequest, address: str, body: MemberUpdate) -> dict:
    member = access.visible_member(request, address)
    with transaction.atomic():
        if body.name is not None:
            services.rename_member(member, body.name, actor=actor(request))
        if body.email is not None:
            access.require_all_lists(request, member, "change the address")
            member = services.change_address(member, body.email, actor=actor(request))
    return member_out(request, member)


@router.delete(
    "/members/{address}",
    response={204: None, 403: Error, 404: Error},
    summary="Erase a person entirely (data-protection request)",
)
def erase_member(request: HttpRequest, address: str) -> Reply:
    member = access.visible_member(request, address)
    access.require_all_lists(request, member, "erase them")
    services.erase_member(member, actor=actor(request))
    return Reply(204, None)
