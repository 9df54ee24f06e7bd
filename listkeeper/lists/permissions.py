"""Who may do what: site admins everything; list roles come from subscriptions.

A signed-in user's roles on a list are those of the member with the same
address (Subscription.role owner/moderator), so owners are managed like members.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from listkeeper.lib.addresses import address_key
from listkeeper.lists.models import MailingList, Role, Status

User = AbstractBaseUser | AnonymousUser


def is_site_admin(user: User) -> bool:
    return bool(user.is_authenticated and getattr(user, "is_superuser", False))


def _lists_with_roles(user: User, roles: list[str]) -> QuerySet[MailingList]:
    email = getattr(user, "email", "") if user.is_authenticated else ""
    if not email:
        return MailingList.objects.none()
    return MailingList.objects.filter(
        subscriptions__member__key=address_key(email),
        subscriptions__role__in=roles,
        subscriptions__status__in=[Status.ACTIVE, Status.DISABLED],
    ).distinct()


def managed_lists(user: User) -> QuerySet[MailingList]:
    """Lists whose settings and members this user may change."""
    if is_site_admin(user):
        return MailingList.objects.all()
    return _lists_with_roles(user, [Role.OWNER])


def moderated_lists(user: User) -> QuerySet[MailingList]:
    """Lists whose held posts this user may approve or reject."""
    if is_site_admin(user):
        return MailingList.objects.all()
    return _lists_with_roles(user, [Role.OWNER, Role.MODERATOR])


def can_manage(user: User, ml: MailingList) -> bool:
    return managed_lists(user).filter(id=ml.id).exists()


def can_moderate(user: User, ml: MailingList) -> bool:
    return moderated_lists(user).filter(id=ml.id).exists()
