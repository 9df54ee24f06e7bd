"""Finding objects the caller may see; anything else is 404, as if absent."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest
from ninja.errors import HttpError

from listkeeper.lists import permissions, services
from listkeeper.lists.models import MailingList, Member, Subscription


def user(request: HttpRequest) -> User:
    # django-ninja sets request.auth (unknown to the stubs) to what the token auth returned.
    return request.auth  # type: ignore[attr-defined]


def visible_list(request: HttpRequest, list_id: int) -> MailingList:
    """A list the caller owns or moderates."""
    ml = permissions.moderated_lists(user(request)).filter(id=list_id).first()
    if ml is None:
        raise Http404(f"no list {list_id}")
    return ml


def managed_list(request: HttpRequest, list_id: int) -> MailingList:
    ml = visible_list(request, list_id)
    if not permissions.can_manage(user(request), ml):
        raise HttpError(403, f"you moderate {ml.address} but only its owners may change it")
    return ml


def require_site_admin(request: HttpRequest, what: str) -> None:
    if not permissions.is_site_admin(user(request)):
        raise HttpError(403, f"only site administrators may {what}")


def subscription(ml: MailingList, address: str) -> Subscription:
    member = services.find_member(address)
    sub = (
        Subscription.objects.select_related("member", "mailing_list")
        .filter(mailing_list=ml, member=member)
        .first()
        if member
        else None
    )
    if sub is None:
        raise HttpError(404, f"{address} is not on {ml.address}")
    return sub


def visible_member(request: HttpRequest, address: str) -> Member:
    """A member on at least one list the caller manages."""
    member = services.find_member(address)
    if member is None or not (
        permissions.is_site_admin(user(request))
        or member.subscriptions.filter(
            mailing_list__in=permissions.managed_lists(user(request))
        ).exists()
    ):
        raise HttpError(404, f"no member {address} on your lists")
    return member


def require_all_lists(request: HttpRequest, member: Member, what: str) -> None:
    """Changes to a person touch all their lists, so the caller must manage all."""
    if permissions.is_site_admin(user(request)):
        return
    managed = permissions.managed_lists(user(request))
    others = member.subscriptions.exclude(mailing_list__in=managed)
    if others.exists():
        raise HttpError(
            403,
            f"{member.email} is also on lists you do not manage; "
            f"ask a site administrator to {what}",
        )
