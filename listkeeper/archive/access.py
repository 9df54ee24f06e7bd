"""Who may read a list's archive.

- public: anyone;
- members: the list's owners and moderators (signed in) and its subscribers,
  signed in with the link from /manage/ (no password);
- private, and off (nothing new is archived; what is there stays for the owners):
  owners and moderators only.

A visitor who may not read a public or private archive gets a 404; a
members-only archive asks them to sign in (403), since members need the way in.
"""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404, HttpRequest

from listkeeper.lib.addresses import address_key
from listkeeper.lists import permissions
from listkeeper.lists.models import ArchiveVisibility, MailingList, Status, Subscription

SESSION_KEY = "archive_member"


class SignInRequired(Exception):
    def __init__(self, ml: MailingList) -> None:
        super().__init__(ml.address)
        self.mailing_list = ml


def remember_member(request: HttpRequest, email: str) -> None:
    """The visitor proved `email` by following a signed link: admit them to their lists' archives."""
    if request.session.get(SESSION_KEY) != email:
        request.session.cycle_key()  # a new session id on sign-in (no fixation)
    request.session[SESSION_KEY] = email


def signed_in_member(request: HttpRequest) -> str:
    return str(request.session.get(SESSION_KEY, "")) if hasattr(request, "session") else ""


def find_list(list_id: str) -> MailingList | None:
    """A list by its List-Id, NAME.DOMAIN (either part may hold dots)."""
    query = Q()
    parts = list_id.split(".")
    for i in range(1, len(parts)):
        query |= Q(local_part=".".join(parts[:i]), domain=".".join(parts[i:]))
    if not query:
        return None
    return MailingList.objects.filter(query).first()


def is_staff(request: HttpRequest, ml: MailingList) -> bool:
    return permissions.can_moderate(request.user, ml)


def is_member(request: HttpRequest, ml: MailingList) -> bool:
    """Signed in with a /manage/ link, or with an account (or API token) whose address is on the list."""
    user = getattr(request, "user", None)
    account = getattr(user, "email", "") if user is not None and user.is_authenticated else ""
    email = signed_in_member(request) or account
    return bool(email) and (
        Subscription.objects.filter(
            mailing_list=ml,
            member__key=address_key(email),
            status__in=[Status.ACTIVE, Status.DISABLED],
        ).exists()
    )


def may_read(request: HttpRequest, ml: MailingList) -> bool:
    visibility = ml.archive_visibility
    if visibility == ArchiveVisibility.PUBLIC:
        return True
    if is_staff(request, ml):
        return True
    return visibility == ArchiveVisibility.MEMBERS and is_member(request, ml)


def readable_list(request: HttpRequest, list_id: str) -> MailingList:
    """The list whose archive this visitor may read; else Http404 or SignInRequired."""
    ml = find_list(list_id)
    if ml is None:
        raise Http404("No such archive")
    if may_read(request, ml):
        return ml
    if ml.archive_visibility == ArchiveVisibility.MEMBERS:
        raise SignInRequired(ml)
    raise Http404("No such archive")


def hides_addresses(request: HttpRequest, ml: MailingList) -> bool:
    """A public archive shows visitors `bob at example.org`; members and staff see addresses."""
    return ml.archive_visibility == ArchiveVisibility.PUBLIC and not (
        is_staff(request, ml) or is_member(request, ml)
    )


def is_public_archive(ml: MailingList) -> bool:
    return ml.archive_visibility == ArchiveVisibility.PUBLIC


def readable_lists(request: HttpRequest) -> list[MailingList]:
    lists = MailingList.objects.exclude(archive_visibility=ArchiveVisibility.OFF)
    return [ml for ml in lists if may_read(request, ml)]
