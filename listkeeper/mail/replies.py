"""Mail we send back to people who wrote to a list, without ever starting a loop.

Automatic replies go only to an address that a person reads: never to the
null sender, a mailer daemon, a list-ish address (`-request`, `-owner`,
`-bounces`, `owner-`) or one of our own lists, and never in answer to mail
that is itself automatic or list traffic (RFC 3834).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model

from listkeeper.delivery.notices import send_template
from listkeeper.lib.addresses import InvalidAddress, address_key, parse
from listkeeper.lists.models import LIST_SUFFIXES, MailingList, Role, Status, Subscription
from listkeeper.lists.routing import resolve, serves_domain
from listkeeper.mail.headers import HeaderBlock

log = logging.getLogger("listkeeper.mail")

ROBOTS = frozenset(
    {"mailer-daemon", "listserv", "majordomo", "noreply", "no-reply", "do-not-reply"}
)


def why_not_reply_to(address: str) -> str:
    """Empty when an automatic reply may go to `address`; else why it must not."""
    text = (address or "").strip().strip("<>")
    if not text:
        return "the sender is the null sender (<>)"
    try:
        addr = parse(text)
    except InvalidAddress:
        return f"the sender {text!r} is not a valid address"
    local = addr.local_part.lower()
    base = local.split("+", 1)[0]
    if base in ROBOTS:
        return f"{addr.email} is an automatic mailer"
    if base.startswith("owner-") or any(base.endswith(f"-{s}") for s in LIST_SUFFIXES):
        return f"{addr.email} looks like a mailing list's own address"
    if address_key(addr.email) == address_key(settings.DEFAULT_FROM_EMAIL):
        return f"{addr.email} is our own address"
    if resolve(addr.email) is not None:
        return f"{addr.email} is one of our lists' addresses"
    return ""


def why_automatic(block: HeaderBlock, envelope_sender: str | None = None) -> str:
    """Empty unless RFC 3834 says the message is automatic (or it comes from `<>`)."""
    if envelope_sender is not None and not envelope_sender.strip().strip("<>"):
        return "the message comes from the null sender (<>), as automatic mail does"
    auto = (block.get("Auto-Submitted") or "no").strip().lower()
    if auto.split(";", 1)[0].strip() != "no":
        return f"the message is automatic (Auto-Submitted: {auto})"
    precedence = (block.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"the message is bulk mail (Precedence: {precedence})"
    return ""


def why_not_answer(block: HeaderBlock) -> str:
    """Empty when the message is one a person sent; else why answering could loop."""
    why = why_automatic(block)
    if why:
        return why
    if block.get("List-Id") is not None:
        return "the message came through a mailing list (List-Id)"
    return ""


def reply(
    name: str,
    to: str,
    context: dict[str, Any],
    *,
    mailing_list: MailingList | None,
    original: HeaderBlock | None = None,
) -> bool:
    """Send template NAME to `to` if that is safe; True when it was queued.

    Without a list the notice comes from DEFAULT_FROM_EMAIL.
    """
    why = why_not_reply_to(to) or (why_not_answer(original) if original is not None else "")
    if why:
        where = mailing_list.address if mailing_list is not None else "(no list)"
        log.info("no %s notice for list %s: %s", name, where, why)
        return False
    headers = {"Auto-Submitted": "auto-replied"}
    if original is not None and original.get("Message-ID"):
        headers["In-Reply-To"] = original.get("Message-ID") or ""
    send_template(
        name, [to.strip().strip("<>")], context, mailing_list=mailing_list, headers=headers
    )
    return True


def staff_of(
    ml: MailingList, roles: Sequence[str] = (Role.OWNER, Role.MODERATOR), *, admins: bool = True
) -> list[str]:
    """Addresses of the list's owners/moderators; the site admins when it has none.

    An admin address in a domain we serve (admin@LISTKEEPER_DOMAIN) is left
    out and logged: our own Postfix refuses it, so the notice would be lost.
    """
    emails = set(
        Subscription.objects.filter(mailing_list=ml, role__in=roles)
        .exclude(status=Status.UNSUBSCRIBED)
        .values_list("member__email", flat=True)
    )
    if not emails and admins:
        for email in (
            get_user_model()
            .objects.filter(is_superuser=True, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        ):
            if serves_domain(email.rpartition("@")[2]):
                log.warning(
                    "site admin %s cannot receive notices for %s: the address is in a domain "
                    "Listkeeper serves; give the admin a real mailbox or the list an owner",
                    email,
                    ml.address,
                )
            else:
                emails.add(email)
    return sorted(emails)
