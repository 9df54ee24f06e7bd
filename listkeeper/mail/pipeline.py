"""The handlers an accepted post goes through, in order.

The result is bytes with CRLF line endings throughout (the SMTP wire form).
"""

from __future__ import annotations

from collections.abc import Callable

from listkeeper.mail.context import InFlight
from listkeeper.mail.handlers import (
    archive_headers,
    clean_headers,
    footer,
    from_header,
    list_headers,
    message_id,
    reply_to,
    subject_tag,
)

PIPELINE: list[Callable[[InFlight], None]] = [
    clean_headers.handle,  # drop Return-Path, DKIM-Signature, Sender, foreign List-*, ...
    from_header.handle,  # "Author via List" <list@domain>
    reply_to.handle,  # the list (author in Cc) or the author
    subject_tag.handle,  # [tag], once
    list_headers.handle,  # List-Id, List-Post, List-Help, ..., X-Loop, Precedence
    message_id.handle,  # keep threading fields; add Message-ID/Date if missing
    archive_headers.handle,  # Archived-At permalink, List-Archive (unless the archive is off)
    footer.handle,  # unsubscribe footer, placeholder for delivery
]


def run(ctx: InFlight) -> bytes:
    for step in PIPELINE:
        if step is footer.handle:
            # What a digest carries: the post as distributed, without the footer.
            ctx.digest_form = ctx.as_bytes()
        step(ctx)
    return ctx.as_bytes()
