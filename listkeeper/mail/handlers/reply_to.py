"""Reply-To per the list's setting, keeping the poster reachable.

- reply_to = author: the poster's own Reply-To is kept as it came; without
  one, Reply-To is the author's From address.
- reply_to = list (default): Reply-To is the list. Since From is now the list
  too, the poster's address would otherwise vanish, so it goes into Cc (the
  addresses of their own Reply-To if they set one, else their From), as
  GNU Mailman does: "Reply" reaches the list, "Reply all" the poster too.
  Nothing is added when the poster is already in To or Cc.
"""

from __future__ import annotations

from listkeeper.lib.addresses import address_key
from listkeeper.lists.models import ReplyTo
from listkeeper.mail import headers as h
from listkeeper.mail.context import InFlight


def handle(ctx: InFlight) -> None:
    ml = ctx.mailing_list
    author = ctx.author
    theirs = ctx.headers_in.addresses("Reply-To")
    if ml.reply_to == ReplyTo.AUTHOR:
        if not theirs and author is not None:
            ctx.headers.replace(
                "Reply-To", h.fold_address("Reply-To", h.format_address(author.name, author.email))
            )
        return
    ctx.headers.replace(
        "Reply-To", h.fold_address("Reply-To", h.format_address(ml.name, ml.address))
    )
    own = address_key(ml.address)
    wanted = [(n, e) for n, e in theirs if address_key(e) != own]
    if not wanted and author is not None:
        wanted = [(author.name, author.email)]
    present = {
        address_key(e) for _, e in ctx.headers_in.addresses("To") + ctx.headers_in.addresses("Cc")
    }
    for name, email in wanted:
        if address_key(email) not in present:
            add_cc(ctx, name, email)
            present.add(address_key(email))


def add_cc(ctx: InFlight, name: str, email: str) -> None:
    value = h.fold_address("Cc", h.format_address(name, email))[len(b"Cc:") :].lstrip()
    existing = ctx.headers.raw("Cc")
    if existing is None:
        ctx.headers.add(b"Cc: " + value)
    else:
        # Continue the poster's own Cc field as written, so its bytes stay as they were.
        ctx.headers.replace("Cc", existing[:-2] + b",\r\n " + value)
