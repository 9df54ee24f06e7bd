"""Permission checks every owners' view goes through (lists, members, held
posts, bans, deliverability): the one place that says which list a signed-in
user may see and who is acting.

A list or member the user may not see is a 404, never a 403: an owner of one
list learns nothing about the others, not even that they exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from listkeeper.lists import permissions
from listkeeper.lists.models import MailingList, Member, Subscription


def actor(request: HttpRequest) -> str:
    """How the audit log names the signed-in user."""
    user = request.user
    return getattr(user, "email", "") or user.get_username()


def _one_list(lists: QuerySet[MailingList], list_id: int) -> MailingList:
    ml = lists.filter(id=list_id).first()
    if ml is None:
        raise Http404("No such list")
    return ml


def managed_list(request: HttpRequest, list_id: int) -> MailingList:
    """The list if the user may change it (owner or site admin), else 404."""
    return _one_list(permissions.managed_lists(request.user), list_id)


def moderated_list(request: HttpRequest, list_id: int) -> MailingList:
    """The list if the user may decide on its held posts (moderator too), else 404."""
    return _one_list(permissions.moderated_lists(request.user), list_id)


def signed_in(request: HttpRequest) -> User:
    """The user of a @login_required view, typed as the account it is."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Sign in first.")  # login_required let someone through
    return user


def managed_list_ids(request: HttpRequest) -> list[int]:
    """Ids of the lists the user manages, looked up once per request."""
    ids = getattr(request, "_managed_list_ids", None)
    if ids is None:
        ids = list(permissions.managed_lists(request.user).values_list("id", flat=True))
        # Cached on the request for its lifetime; HttpRequest has no such attribute.
        request._managed_list_ids = ids  # type: ignore[attr-defined]
    return ids


def visible_members(request: HttpRequest) -> QuerySet[Member]:
    """Members the user may look at: everyone for a site admin, else those on their lists."""
    if permissions.is_site_admin(request.user):
        return Member.objects.all()
    ids = managed_list_ids(request)
    return Member.objects.filter(
        id__in=Subscription.objects.filter(mailing_list_id__in=ids).values("member_id")
    )


def visible_member(request: HttpRequest, member_id: int) -> Member:
    member = Member.objects.filter(id=member_id).first()
    if member is None or not (
        permissions.is_site_admin(request.user)
        or Subscription.objects.filter(
            member_id=member.id, mailing_list_id__in=managed_list_ids(request)
        ).exists()
    ):
        raise Http404("No such member")
    return member


def can_edit_person(request: HttpRequest, member: Member) -> bool:
    """Name, address and erasure touch every list the person is on.

    So an owner may change them only when all those lists are theirs.
    """
    if permissions.is_site_admin(request.user):
        return True
    ids = set(managed_list_ids(request))
    lists = set(member.subscriptions.values_list("mailing_list_id", flat=True))
    return bool(lists) and lists <= ids


def site_admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not permissions.is_site_admin(request.user):
            raise Http404("Not found")
        return view(request, *args, **kwargs)

    return wrapped
