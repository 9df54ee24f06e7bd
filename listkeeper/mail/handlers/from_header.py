"""From becomes `"Author via List" <list@domain>`.

SES sends only from verified identities, and a poster's own domain may
publish a DMARC policy that a list's copies would fail; the list's address
passes both. The author stays visible in the display name, and reply_to puts
their address in Reply-To or Cc.
"""

from __future__ import annotations

from listkeeper.mail import headers as h
from listkeeper.mail.context import InFlight


def display_name(ctx: InFlight) -> str:
    author = ctx.author
    who = (author.name or author.email) if author else "Someone"
    return f"{who} via {ctx.mailing_list.name}"


def handle(ctx: InFlight) -> None:
    ml = ctx.mailing_list
    field = h.fold_address("From", h.format_address(display_name(ctx), ml.address))
    ctx.headers.replace("From", field)
