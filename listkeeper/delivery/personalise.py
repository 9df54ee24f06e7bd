"""Per-recipient copies of one message, built with byte operations.

The message is prepared once per delivery (line endings made CRLF, a
dot-stuffed variant for SMTP DATA, the body cut at the footer placeholder); each copy
is then a join of a few byte strings with the member's own unsubscribe URL and
List-Unsubscribe headers. Nothing is re-parsed per copy, so a 100,000-member
fan-out spends its time in the SMTP hand-off, not here.

The contract with the mail pipeline (mail/handlers/): a personalised list's
message carries no List-Unsubscribe headers, and any footer holds the ASCII
placeholder below only inside a 7bit/8bit text part, so the bytes can be
replaced without decoding anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from listkeeper.lib import links, tokens
from listkeeper.lists.models import MailingList, RouteKind

PLACEHOLDER = b"@@UNSUBSCRIBE_URL@@"

_BARE_LF = re.compile(rb"(?<!\r)\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# Headers a personalised copy gets per member; a stray one from upstream goes.
_PER_COPY_HEADERS = (b"list-unsubscribe", b"list-unsubscribe-post")


@dataclass(frozen=True)
class Prepared:
    """A message ready to be copied: CRLF line endings, cut at the placeholder.

    `head` is the header block (each line ending in CRLF) without the blank
    line after it; `body_parts` are the body split at each placeholder (one
    part when there is none). `stuffed_parts` are the same, dot-stuffed for
    SMTP DATA (stuffed before the split, so a part that starts mid-line is not
    stuffed by mistake); BDAT sends `body_parts` as they are.
    """

    head: bytes
    body_parts: tuple[bytes, ...]
    stuffed_parts: tuple[bytes, ...]
    list_id: int | None = None
    request_address: str = ""
    list_page_url: str = ""

    @property
    def has_placeholder(self) -> bool:
        return len(self.body_parts) > 1

    @property
    def size(self) -> int:
        return len(self.head) + sum(len(p) for p in self.body_parts)


def crlf(message: bytes) -> bytes:
    """CRLF line endings and a final CRLF."""
    data = _BARE_LF.sub(b"\r\n", message)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def dot_stuff(data: bytes) -> bytes:
    """Leading dots doubled, for the body of SMTP DATA (RFC 5321 4.5.2)."""
    return _LEADING_DOT.sub(b"..", data)


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """Header block (ending in CRLF) and body; a message with no body has b""."""
    if data.startswith(b"\r\n"):
        return b"", data[2:]
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return data, b""
    return data[: end + 2], data[end + 4 :]


def _drop_headers(head: bytes, names: tuple[bytes, ...]) -> bytes:
    """Remove the named fields, continuation lines included."""
    kept: list[bytes] = []
    dropping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        dropping = name in names
        if not dropping:
            kept.append(line)
    return b"".join(kept)


def prepare(message: bytes, mailing_list: MailingList | None, *, personalised: bool) -> Prepared:
    """Do the once-per-delivery work. Without a list, copies are the message as is."""
    head, body = _split_head(crlf(message))
    # Header lines never start with a dot (field names, or folded lines that
    # start with white space), so only the body needs stuffing.
    if mailing_list is None:
        return Prepared(head=head, body_parts=(body,), stuffed_parts=(dot_stuff(body),))
    page = links.list_page_url(mailing_list.local_part, mailing_list.domain)
    if personalised:
        head = _drop_headers(head, _PER_COPY_HEADERS)
        parts = tuple(body.split(PLACEHOLDER))
        stuffed = tuple(dot_stuff(body).split(PLACEHOLDER))
    else:
        # Everyone gets the same copy: the footer points at the public list page.
        body = body.replace(PLACEHOLDER, page.encode())
        parts, stuffed = (body,), (dot_stuff(body),)
    return Prepared(
        head=head,
        body_parts=parts,
        stuffed_parts=stuffed,
        list_id=mailing_list.id,
        request_address=mailing_list.suffixed(RouteKind.REQUEST),
        list_page_url=page,
    )


def shared_copy(prepared: Prepared, *, stuffed: bool = False) -> bytes:
    """The one copy of a non-personalised message (or one of our own notices)."""
    parts = prepared.stuffed_parts if stuffed else prepared.body_parts
    return prepared.head + b"\r\n" + b"".join(parts)


def copy_for(prepared: Prepared, member_id: int, *, stuffed: bool = False) -> bytes:
    """One member's copy: their unsubscribe URL in the headers and the footer.

    `stuffed`: dot-stuffed for SMTP DATA; otherwise as is (BDAT, files).
    """
    if prepared.list_id is None:
        return shared_copy(prepared, stuffed=stuffed)
    url = links.unsubscribe_url(prepared.list_id, member_id).encode()
    headers = (
        b"List-Unsubscribe: <"
        + url
        + b">,\r\n <mailto:"
        + prepared.request_address.encode()
        + b"?subject=unsubscribe>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    )
    parts = prepared.stuffed_parts if stuffed else prepared.body_parts
    body = url.join(parts) if len(parts) > 1 else parts[0]
    return prepared.head + headers + b"\r\n" + body


def verp_sender(mailing_list: MailingList, recipient_id: int) -> str:
    """NAME-bounces+TOKEN@DOMAIN: a bounce to it names the ledger row, so the member."""
    token = tokens.verp_token(recipient_id)
    return f"{mailing_list.local_part}-bounces+{token}@{mailing_list.domain}"
