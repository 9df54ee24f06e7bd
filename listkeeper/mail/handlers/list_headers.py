"""RFC 2919 List-Id and the RFC 2369 List-* fields, X-Loop and Precedence.

List-Unsubscribe follows the personalisation contract with delivery: for a
personalised list the pipeline writes none, and delivery adds a per-member
one-click URL (RFC 8058) to each copy. For a non-personalised list every copy
is the same, so it points at the list's public page plus a mailto, without
List-Unsubscribe-Post (one click there would not know who clicked). There is
List-Archive is written by archive_headers, with Archived-At, when the list
keeps an archive.
"""

from __future__ import annotations

from listkeeper.lib import links
from listkeeper.lists.models import PostingPolicy
from listkeeper.mail import headers as h
from listkeeper.mail.context import InFlight


def handle(ctx: InFlight) -> None:
    ml = ctx.mailing_list
    request = ml.suffixed("request")
    page = links.list_page_url(ml.local_part, ml.domain)
    ctx.headers.remove_where(lambda name: name.lower().startswith("list-"))
    fields = [
        ("List-Id", f"{h.phrase(ml.name)} <{ml.list_id}>".strip()),
        (
            "List-Post",
            "NO" if ml.posting_policy == PostingPolicy.ANNOUNCE else f"<mailto:{ml.address}>",
        ),
        ("List-Help", f"<mailto:{request}?subject=help>"),
        ("List-Owner", f"<mailto:{ml.suffixed('owner')}>"),
        ("List-Subscribe", f"<{page}>, <mailto:{request}?subject=subscribe>"),
    ]
    if not ml.personalised:
        fields.append(("List-Unsubscribe", f"<{page}>, <mailto:{request}?subject=unsubscribe>"))
    for name, value in fields:
        ctx.headers.add(h.fold_ascii(name, value))
    # Other lists' X-Loop fields stay: they need them to spot their own loops.
    ctx.headers.add(h.fold_ascii("X-Loop", ml.address))
    ctx.headers.replace("Precedence", h.fold_ascii("Precedence", "list"))
