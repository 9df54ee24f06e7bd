"""Who may not subscribe or post: bans per list and site-wide.

A ban is an exact address (`bob@example.org`) or a shell-style pattern
(`*@spam.example`, `promo-*@example.com`); matching ignores case. A ban with no
list applies to every list.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from listkeeper.lib.addresses import InvalidAddress, address_key, normalise
from listkeeper.lists.models import Ban, MailingList

WILDCARDS = frozenset("*?[")


class BadPattern(ValueError):
    """A ban pattern that cannot be used; str() says why."""


def is_pattern(text: str) -> bool:
    return any(c in WILDCARDS for c in text)


def clean_pattern(raw: str) -> str:
    """The stored form of a ban: an exact address or a lowercase pattern.

    `@spam.example` is shorthand for `*@spam.example`.
    """
    text = raw.strip().lower()
    if text.startswith("@"):
        text = "*" + text
    if not text:
        raise BadPattern(_("the ban is empty: give an address or a pattern like *@spam.example"))
    if len(text) > 254:
        raise BadPattern(_("%(text)s... is longer than 254 characters") % {"text": repr(text[:40])})
    if any(c.isspace() for c in text):
        raise BadPattern(
            _("%(text)s contains spaces; give one address or pattern per ban")
            % {"text": repr(text)}
        )
    if is_pattern(text):
        if not text.translate(str.maketrans("", "", "*?[]@.-")):
            raise BadPattern(
                _("%(text)s would ban everybody; name a domain, e.g. *@spam.example")
                % {"text": repr(text)}
            )
        return text
    try:
        return address_key(normalise(text))
    except InvalidAddress as exc:
        raise BadPattern(
            _("%(problem)s; give an address or a pattern like *@spam.example") % {"problem": exc}
        ) from None


def _bans_for(ml: MailingList | None) -> Q:
    site_wide = Q(mailing_list__isnull=True)
    return site_wide | Q(mailing_list=ml) if ml is not None else site_wide


def matches(pattern: str, address: str) -> bool:
    key = address_key(address)
    return fnmatchcase(key, pattern) if is_pattern(pattern) else key == pattern


def is_banned(ml: MailingList | None, address: str) -> bool:
    """Is `address` banned from `ml` (or, with None, from the whole site)?"""
    key = address_key(address)
    bans = Ban.objects.filter(_bans_for(ml))
    if bans.filter(pattern=key).exists():
        return True
    return any(matches(p, key) for p in _patterns(bans))


def banned_among(ml: MailingList | None, addresses: Iterable[str]) -> set[str]:
    """The keys of those `addresses` that are banned, with one query (imports)."""
    patterns = list(Ban.objects.filter(_bans_for(ml)).values_list("pattern", flat=True))
    if not patterns:
        return set()
    return {key for key in map(address_key, addresses) if any(matches(p, key) for p in patterns)}


def _patterns(bans: QuerySet[Ban]) -> list[str]:
    # Exact bans were found by the indexed query; only patterns need fnmatch.
    qs = bans.filter(Q(pattern__contains="*") | Q(pattern__contains="?") | Q(pattern__contains="["))
    return list(qs.values_list("pattern", flat=True))
