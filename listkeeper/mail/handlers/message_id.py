"""Keep Message-ID, In-Reply-To and References as they came, so threads hold;
add a Message-ID and a Date when the poster's software left them out."""

from __future__ import annotations

from email.utils import formatdate, make_msgid

from listkeeper.mail import headers as h
from listkeeper.mail.context import InFlight


def handle(ctx: InFlight) -> None:
    if not (ctx.headers.get("Message-ID") or "").strip():
        ctx.headers.replace(
            "Message-ID", h.fold_ascii("Message-ID", make_msgid(domain=ctx.mailing_list.domain))
        )
    if not (ctx.headers.get("Date") or "").strip():
        ctx.headers.replace("Date", h.fold_ascii("Date", formatdate(usegmt=True)))
