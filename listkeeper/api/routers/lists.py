"""Lists: read, create, change settings, delete."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from ninja import Router
from ninja import Status as Reply

from listkeeper.api import access
from listkeeper.api.auth import actor
from listkeeper.api.schemas import Error, ListCreate, ListOut, ListUpdate
from listkeeper.lib.addresses import parse
from listkeeper.lists import permissions, services
from listkeeper.lists.models import MailingList, Role, Source, Status
from listkeeper.mail.models import PostStatus

router = Router(tags=["lists"])


def _annotated(qs: QuerySet[MailingList]) -> QuerySet[MailingList]:
    return qs.annotate(
        active_members=Count(
            "subscriptions", filter=Q(subscriptions__status=Status.ACTIVE), distinct=True
        ),
        held_posts=Count("posts", filter=Q(posts__status=PostStatus.HELD), distinct=True),
    )


def _data(ml: MailingList, can_manage: bool) -> dict:
    data = {f.name: getattr(ml, f.name) for f in MailingList._meta.concrete_fields}
    data.update(
        address=ml.address,
        # Annotated by _annotated(); the stubs know only the model's own fields.
        active_members=ml.active_members,  # type: ignore[attr-defined]
        held_posts=ml.held_posts,  # type: ignore[attr-defined]
        can_manage=can_manage,
    )
    return data


def _out(request: HttpRequest, ml: MailingList) -> dict:
    annotated = _annotated(MailingList.objects.filter(id=ml.id)).get()
    return _data(annotated, permissions.can_manage(access.user(request), ml))


@router.get("", response=list[ListOut], summary="Lists you own or moderate")
def list_lists(request: HttpRequest) -> list[dict]:
    # id__in: filtering on the caller's subscription and counting subscriptions
    # in one join would count only the caller's own.
    visible = permissions.moderated_lists(access.user(request)).values("id")
    lists = _annotated(MailingList.objects.filter(id__in=visible))
    managed = set(permissions.managed_lists(access.user(request)).values_list("id", flat=True))
    return [_data(ml, ml.id in managed) for ml in lists]


@router.post(
    "",
    response={201: ListOut, 403: Error, 422: Error},
    summary="Create a list (site administrators)",
)
def create_list(request: HttpRequest, body: ListCreate) -> Reply:
    access.require_site_admin(request, "create lists")
    owners = [parse(o) for o in body.owners]  # InvalidAddress → 422 naming the address
    fields = body.dict(exclude_unset=True, exclude={"local_part", "domain", "owners"})
    with transaction.atomic():
        ml = services.create_list(
            body.local_part,
            body.domain or settings.LISTKEEPER_DOMAIN,
            actor=actor(request),
            **{k: v for k, v in fields.items() if v is not None},
        )
        for owner in owners:
            services.subscribe(ml, owner, actor=actor(request), source=Source.API, role=Role.OWNER)
    return Reply(201, _out(request, ml))


@router.get("/{int:list_id}", response={200: ListOut, 404: Error})
def get_list(request: HttpRequest, list_id: int) -> dict:
    return _out(request, access.visible_list(request, list_id))


@router.patch("/{int:list_id}", response={200: ListOut, 403: Error, 404: Error, 422: Error})
def update_list(request: HttpRequest, list_id: int, body: ListUpdate) -> dict:
    ml = access.managed_list(request, list_id)
    changes = {k: v for k, v in body.dict(exclude_unset=True).items() if v is not None}
    services.update_list(ml, actor=actor(request), **changes)
    return _out(request, ml)


@router.delete(
    "/{int:list_id}",
    response={204: None, 403: Error, 404: Error},
    summary="Delete a list with its subscriptions and posts (site administrators)",
)
def delete_list(request: HttpRequest, list_id: int) -> Reply:
    ml = access.visible_list(request, list_id)
    access.require_site_admin(request, "delete lists")
    services.delete_list(ml, actor=actor(request))
    return Reply(204, None)
