"""The list footer with its unsubscribe link, without re-encoding anything.

Personalisation contract: the footer holds the ASCII placeholder
@@UNSUBSCRIBE_URL@@ only inside a 7bit/8bit text/plain part, so delivery can
swap in each member's link byte for byte. (Non-personalised lists get the
list page's URL here and now: every copy is the same.)

- A single text/plain part in 7bit/8bit whose charset can take the footer:
  the footer is appended to its bytes.
- A multipart/mixed message: the footer becomes one more text/plain part,
  inserted before the closing boundary; the other parts are not touched.
- Anything else (multipart/alternative, HTML only, base64 or quoted-printable
  text, signed messages): the message is wrapped as the first part of a new
  multipart/mixed (its Content-* fields move into that part unchanged) and
  the footer part follows.
"""

from __future__ import annotations

import email
import re
import secrets
from email import policy
from email.message import Message

from django.utils.translation import gettext as _

from listkeeper.lib import links
from listkeeper.mail import headers as h
from listkeeper.mail.context import InFlight

PLACEHOLDER = "@@UNSUBSCRIBE_URL@@"
RULE = "_" * 47
# Charsets in which plain ASCII bytes appended at the end mean the same text.
ASCII_SAFE = re.compile(
    r"^(us-ascii|ascii|utf-8|utf8|iso-8859-\d+|latin-?\d|windows-125\d|cp125\d|koi8-[ru]|"
    r"gb2312|gbk|gb18030|big5|euc-(jp|kr|cn|tw))$"
)


def footer_text(ctx: InFlight) -> str:
    ml = ctx.mailing_list
    url = PLACEHOLDER if ml.personalised else links.list_page_url(ml.local_part, ml.domain)
    # One footer for every copy, so in the site's language (the digest's footer
    # uses the same sentences); their translations must stay ASCII, see above.
    title = _("%(name)s mailing list <%(address)s>") % {"name": ml.name, "address": ml.address}
    return f"{RULE}\r\n{title}\r\n{_('Unsubscribe: %(url)s') % {'url': url}}\r\n"


def _top(ctx: InFlight) -> Message:
    return email.message_from_bytes(ctx.headers.as_bytes() + h.CRLF, policy=policy.compat32)


def _cte(msg: Message) -> str:
    return str(msg.get("Content-Transfer-Encoding", "7bit")).strip().lower()


def handle(ctx: InFlight) -> None:
    if not ctx.mailing_list.footer:
        return
    text = footer_text(ctx)
    top = _top(ctx)
    if not (append_to_text(ctx, top, text) or insert_into_mixed(ctx, top, text)):
        wrap_in_mixed(ctx, text)


def append_to_text(ctx: InFlight, top: Message, text: str) -> bool:
    if top.get_content_type() != "text/plain" or _cte(top) not in ("7bit", "8bit"):
        return False
    charset = (top.get_content_charset() or "us-ascii").lower()
    if h.is_ascii(text) and ASCII_SAFE.match(charset):
        data = text.encode("ascii")
    elif charset in ("utf-8", "utf8"):
        data = text.encode("utf-8")
        if _cte(top) == "7bit":
            ctx.headers.replace("Content-Transfer-Encoding", b"Content-Transfer-Encoding: 8bit\r\n")
    else:
        return False
    separator = b"" if not ctx.body or ctx.body.endswith(h.CRLF) else h.CRLF
    ctx.body = ctx.body + separator + h.CRLF + data
    return True


def footer_part(text: str) -> bytes:
    if h.is_ascii(text):
        head = (
            b'Content-Type: text/plain; charset="us-ascii"\r\nContent-Transfer-Encoding: 7bit\r\n'
        )
    else:
        head = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n'
    return head + b"Content-Disposition: inline\r\n\r\n" + text.encode("utf-8")


def insert_into_mixed(ctx: InFlight, top: Message, text: str) -> bool:
    boundary = top.get_boundary()
    if top.get_content_type() != "multipart/mixed" or not boundary:
        return False
    closing = re.compile(
        rb"(?:^|(?<=\r\n))--" + re.escape(boundary.encode("utf-8", "surrogateescape")) + rb"--"
    )
    found = list(closing.finditer(ctx.body))
    if not found:
        return False  # no closing delimiter: let wrapping make a well-formed message
    at = found[-1].start()
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    # The CRLF before the closing delimiter belongs to it; ours ends with our own.
    insert = delimiter + h.CRLF + footer_part(text) + h.CRLF
    ctx.body = ctx.body[:at] + insert + ctx.body[at:]
    return True


def wrap_in_mixed(ctx: InFlight, text: str) -> None:
    boundary = "===============" + secrets.token_hex(12) + "=="
    while boundary.encode() in ctx.body:
        boundary = "===============" + secrets.token_hex(12) + "=="
    inner = [f for f in ctx.headers if h.field_name(f).lower().startswith("content-")]
    ctx.headers.remove_where(lambda name: name.lower().startswith("content-"))
    if "MIME-Version" not in ctx.headers:
        ctx.headers.add(b"MIME-Version: 1.0\r\n")
    ctx.headers.add(f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'.encode("ascii"))
    eight_bit = (
        any(b > 127 for b in ctx.body) or not h.is_ascii(text) or b"8bit" in b"".join(inner).lower()
    )
    if eight_bit:
        ctx.headers.add(b"Content-Transfer-Encoding: 8bit\r\n")
    delimiter = b"--" + boundary.encode("ascii")
    ctx.body = (
        delimiter
        + h.CRLF
        + b"".join(inner)
        + h.CRLF
        + ctx.body
        + h.CRLF
        + delimiter
        + h.CRLF
        + footer_part(text)
        + h.CRLF
        + delimiter
        + b"--"
        + h.CRLF
    )
