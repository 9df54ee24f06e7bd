"""Which list, and which of its addresses, an incoming recipient names.

NAME@DOMAIN posts; NAME-request, NAME-owner, NAME-bounces; NAME-bounces+TOKEN
(VERP, the token naming one ledger row). Postfix's lookup answers the same
question in SQL (listkeeper/postfix); keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists.models import LIST_SUFFIXES, MailingList, RouteKind

__all__ = ["Route", "RouteKind", "resolve"]


@dataclass(frozen=True)
class Route:
    mailing_list: MailingList
    kind: RouteKind
    token: str = ""  # only on -bounces: the VERP token naming one ledger row


def resolve(address: str) -> Route | None:
    local, _at, domain = address.strip().strip("<>").rpartition("@")
    local, domain = local.lower(), domain.lower()
    if not local or not domain:
        return None
    local, _plus, token = local.partition("+")
    candidates = {local: RouteKind.POST}
    for suffix in LIST_SUFFIXES:
        if local.endswith(f"-{suffix}"):
            candidates[local[: -len(suffix) - 1]] = suffix
    found = {
        ml.local_part: ml
        for ml in MailingList.objects.filter(domain=domain, local_part__in=candidates)
    }
    for name, kind in candidates.items():
        if name in found:
            if token and kind != RouteKind.BOUNCES:
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


def personal_address(raw: str) -> Address:
    """A person's mailbox (an admin, an owner): parsed, and not in a domain we serve.

    Our Postfix accepts only list addresses in the domains it serves, so mail
    to a person there would never arrive. InvalidAddress says why and what to give.
    """
    try:
        addr = parse(raw)
    except InvalidAddress as exc:
        raise InvalidAddress(
            _("%(problem)s. Give an address like you@example.org.") % {"problem": exc}
        ) from None
    if serves_domain(addr.domain):
        raise InvalidAddress(
            _(
                "%(address)s is in %(domain)s, a domain Listkeeper serves: its Postfix "
                "accepts only list addresses there, so mail to it would never reach a person. "
                "Give an address at your own mail provider, e.g. you@example.org."
            )
            % {"address": addr.email, "domain": addr.domain}
        )
    return addr
