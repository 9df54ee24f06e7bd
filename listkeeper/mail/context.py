"""A post in flight: what the rules judge and the handlers change.

The message is kept as a header block plus body bytes, both with CRLF line
endings (the SMTP wire form; mail from LMTP already has them, so for real
traffic nothing is rewritten). Handlers edit `headers` field by field and
only the footer handler touches `body`, so every byte not changed on purpose
leaves as it arrived. `parsed` is a read-only view for looking inside.
"""

from __future__ import annotations

import email
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from functools import cached_property

from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists.models import MailingList
from listkeeper.mail import headers as h
from listkeeper.mail.authentication import Verdict, postfix_trace
from listkeeper.mail.errors import Hold


@dataclass
class InFlight:
    mailing_list: MailingList
    raw: bytes  # exactly as received; this is what a held post keeps
    envelope_sender: str
    headers: h.HeaderBlock
    body: bytes
    author: Address | None = None
    notes: list[str] = field(default_factory=list)  # what handlers did, for logs
    digest_form: bytes | None = None  # set by pipeline.run
    auth: Verdict | None = None  # None: not checked (a moderator's approval, a test)

    @property
    def size(self) -> int:
        """The post's size as the poster sent it: without what our own Postfix added on top.

        The public smtpd counts the bytes the poster sent; its Received field
        (and our Authentication-Results) come after that count, so a post it
        accepted at MAX_MESSAGE_SIZE must not be refused here for them.
        """
        added = 0
        fields = self.headers_in.fields
        for i, fld in enumerate(fields[:2]):
            name = h.field_name(fld).lower()
            if name == "authentication-results" and i == 0:
                added += len(fld)
            elif name == "received" and postfix_trace(h.HeaderBlock(fields[i:])) is not None:
                added += len(fld)
                break
            else:
                break
        return len(self.raw) - added

    @property
    def subject(self) -> str:
        return self.headers_in.get_text("Subject") or ""

    @property
    def message_id(self) -> str:
        return (self.headers_in.get("Message-ID") or "").strip()

    @cached_property
    def headers_in(self) -> h.HeaderBlock:
        """The header block as it arrived, whatever the handlers have done since."""
        return h.split(wire_form(self.raw))[0]

    @cached_property
    def parsed(self) -> Message:
        """The original message parsed (compat32 never re-folds or decodes on access)."""
        return email.message_from_bytes(wire_form(self.raw), policy=policy.compat32)

    def as_bytes(self) -> bytes:
        return self.headers.as_bytes() + h.CRLF + self.body


def wire_form(raw: bytes) -> bytes:
    """CRLF line endings, without the mbox "From " line a message saved to a file may start with."""
    data = h.canonical(raw)
    if data.startswith(b"From "):
        data = data.partition(h.CRLF)[2]
    return data


def read_author(block: h.HeaderBlock) -> Address | None:
    for name, addr in block.addresses("From"):
        try:
            found = parse(addr)
        except InvalidAddress:
            continue
        return Address(found.email, name.strip())
    return None


def parse_message(
    ml: MailingList, raw: bytes, envelope_sender: str, *, require_author: bool = True
) -> InFlight:
    """Split and read a message; raise Hold when there is nothing we can work with.

    A moderator may approve a post without a readable From (require_author=False).
    """
    if not raw.strip():
        raise Hold("the message is empty")
    block, body = h.split(wire_form(raw))
    if not block.fields:
        raise Hold("the message has no header fields (it may not be an email message)")
    ctx = InFlight(ml, raw, envelope_sender.strip().strip("<>"), block, body)
    ctx.author = read_author(block)
    if ctx.author is None and require_author:
        shown = block.get("From")
        if shown is None:
            raise Hold("the message has no From: header")
        raise Hold(f"the From: header {shown[:200]!r} holds no valid address")
    return ctx
