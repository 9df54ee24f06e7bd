"""RFC 5064 Archived-At (this post's permalink) and RFC 2369 List-Archive.

The permalink is derived from the Message-ID alone (archive/ids.py), so it is
known before the post is stored, and every copy carries the same one. Runs
after message_id.handle, which gives a post without a Message-ID one.
A list whose archive is off gets neither field.
"""

from __future__ import annotations

from listkeeper.archive import ids
from listkeeper.archive.store import archives
from listkeeper.lib import links
from listkeeper.mail import headers as h
from listkeeper.mail.context import InFlight


def handle(ctx: InFlight) -> None:
    ml = ctx.mailing_list
    # Another list's or the poster's own Archived-At does not describe this copy.
    ctx.headers.remove("Archived-At")
    if not archives(ml):
        return
    ctx.headers.replace(
        "List-Archive", h.fold_ascii("List-Archive", f"<{links.archive_url(ml.list_id)}>")
    )
    message_id = ids.normalise_message_id(ctx.headers.get("Message-ID"))
    if message_id:
        url = links.archive_message_url(ml.list_id, ids.slug(message_id))
        ctx.headers.add(h.fold_ascii("Archived-At", f"<{url}>"))
