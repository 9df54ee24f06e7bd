"""Which list, and which of its addresses, an incoming recipient names.

NAME@DOMAIN posts; NAME-request, NAME-owner, NAME-bounces; NAME-bounces+TOKEN
(VERP, the token naming one ledger row). Postfix's lookup answers the same
question in SQL (listkeeper/postfix); keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from listkeeper.lists.models import LIST_SUFFIXES, MailingList

POST = "post"


@dataclass(frozen=True)
class Route:
    mailing_list: MailingList
    kind: str  # "post", "request", "owner" or "bounces"
    token: str = ""


def resolve(address: str) -> Route | None:
    local, _, domain = address.strip().strip("<>").rpartition("@")
    local, domain = local.lower(), domain.lower()
    if not local or not domain:
        return None
    local, _, token = local.partition("+")
    candidates = {local: POST}
    for suffix in LIST_SUFFIXES:
        if local.endswith(f"-{suffix}"):
            candidates[local[: -len(suffix) - 1]] = suffix
    found = {
        ml.local_part: ml
        for ml in MailingList.objects.filter(domain=domain, local_part__in=candidates)
    }
    for name, kind in candidates.items():
        if name in found:
            if token and kind != "bounces":
                return None
            return Route(found[name], kind, token)
    return None


def serves_domain(domain: str) -> bool:
    """Whether mail for `domain` comes to us: LISTKEEPER_DOMAIN or a domain with a list.

    Our Postfix accepts only list addresses there, so a person's mailbox in
    such a domain (admin@LISTKEEPER_DOMAIN) never receives anything.
    """
    domain = domain.strip().rstrip(".").lower()
    if not domain:
        return False
    return (
        domain == str(settings.LISTKEEPER_DOMAIN).lower()
        or MailingList.objects.filter(domain=domain).exists()
    )
