"""Who may not post or subscribe: bans per list and site-wide.

A ban pattern is an exact address or one with `*` wildcards, like
`*@spam.example`; matching ignores case.
"""

from __future__ import annotations

import re

from django.db.models import Q

from listkeeper.lib.addresses import address_key
from listkeeper.lists.models import Ban, MailingList


def matches(pattern: str, address: str) -> bool:
    pattern, address = address_key(pattern), address_key(address)
    if "*" not in pattern:
        return pattern == address
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, address) is not None


def is_banned(ml: MailingList | None, address: str) -> Ban | None:
    """The ban (this list's or site-wide) that covers `address`, or None."""
    if not address:
        return None
    scope = Q(mailing_list__isnull=True)
    if ml is not None:
        scope |= Q(mailing_list=ml)
    for ban in Ban.objects.filter(scope).order_by("mailing_list_id", "id"):
        if matches(ban.pattern, address):
            return ban
    return None
