"""What the archive reads out of a message: author, date, threading fields, text, attachments.

Everything here must survive hostile or broken mail: a message we cannot
parse still gets archived with what could be read (the raw bytes are kept).
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from listkeeper.archive import ids
from listkeeper.lists.models import MailingList

# Header values we keep are cut here: a message with megabytes of References
# must not make every page that shows it slow.
MAX_HEADER = 998
MAX_REFERENCES = 50
# Bodies are kept for display and search up to this many characters.
MAX_TEXT = 500_000
# A Date this far from when we received the post is a wrong clock or spam.
DATE_TOLERANCE = timedelta(days=7)
EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)


@dataclass
class Attachment:
    part: int  # index in Message.walk(): how the download finds it again
    filename: str
    content_type: str
    size: int

    def as_json(self) -> dict[str, object]:
        return {
            "part": self.part,
            "filename": self.filename,
            "type": self.content_type,
            "size": self.size,
        }


@dataclass
class Parsed:
    message_id: str
    subject: str
    author_name: str
    author_email: str
    date: datetime | None
    in_reply_to: str
    references: list[str]
    body_text: str
    body_html: str
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def parent_ids(self) -> list[str]:
        """Candidate parents, nearest first: In-Reply-To, then References from the end."""
        found = ids.message_ids(self.in_reply_to)[:1]
        for mid in reversed(self.references):
            if mid not in found:
                found.append(mid)
        return found


def _clean(text: str, limit: int = MAX_HEADER) -> str:
    # PostgreSQL refuses NUL; control characters have no place in a header shown on a page.
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text or "").strip()[:limit]


def _decode(value: str) -> str:
    """An RFC 2047 header value as text; words that do not decode stay as they are."""
    value = re.sub(r"\r?\n(?=[ \t])", "", value)
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, ValueError, UnicodeError, AssertionError, HeaderParseError):
        return value


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):  # compat32 returns Header for undecodable 8-bit bytes
        value = str(value)
    return _clean(_decode(value))


def read(raw: bytes, mailing_list: MailingList | None = None) -> Parsed:
    # compat32: a parse several times faster than policy.default's header
    # objects, which matters when importing 100,000 messages.
    msg = email.message_from_bytes(raw, policy=compat32)
    name, address = _author(msg)
    subject = _header(msg, "Subject")
    if mailing_list is not None and mailing_list.subject_tag:
        subject = subject.replace(mailing_list.subject_tag, "", 1).strip()
    text, html, attachments = _parts(msg)
    return Parsed(
        message_id=ids.normalise_message_id(_header(msg, "Message-ID")),
        subject=subject,
        author_name=name,
        author_email=address,
        date=message_date(msg),
        in_reply_to=" ".join(ids.message_ids(_header(msg, "In-Reply-To"))[:1]),
        references=ids.message_ids(_header(msg, "References"))[-MAX_REFERENCES:],
        body_text=text[:MAX_TEXT],
        body_html=html[:MAX_TEXT],
        attachments=attachments,
    )


def _author(msg: Message) -> tuple[str, str]:
    values = [str(v) for v in msg.get_all("From") or []]
    try:
        pairs = getaddresses(values)
    except Exception:
        pairs = []
    for name, addr in pairs:
        if "@" in addr:
            return _clean(_decode(name), 200), _clean(addr, 254).lower()
    # Mailman 2's pipermail wrote "alice at example.com (Alice)".
    found = _PIPERMAIL_FROM.match(values[0]) if values else None
    if found:
        name = _decode(found.group(3) or "")
        return _clean(name, 200), f"{found.group(1)}@{found.group(2)}".lower()
    return "", ""


_PIPERMAIL_FROM = re.compile(r"^\s*([^\s@()<>]+) at ([\w.-]+\.\w+)\s*(?:\((.*)\))?\s*$")


def message_date(msg: Message) -> datetime | None:
    """The Date header, else the newest Received stamp; None if neither reads."""
    for value in [msg.get("Date")] + [
        str(r).rpartition(";")[2] for r in (msg.get_all("Received") or [])
    ]:
        when = _date(value)
        if when is not None:
            return when
    return None


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(str(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when < EARLIEST or when > datetime.now(UTC) + timedelta(days=2):
        return None
    return when.astimezone(UTC)


def live_date(parsed: Parsed, received: datetime) -> datetime:
    """A post arriving now is dated by its Date header unless that is far off."""
    if parsed.date is not None and abs(parsed.date - received) <= DATE_TOLERANCE:
        return parsed.date
    return received


def _parts(msg: Message) -> tuple[str, str, list[Attachment]]:
    """The first text/plain part (else the first text/html one) and the attachments.

    Broken MIME (no boundary, unknown charsets, bad base64) yields what can be
    read: the undecoded body rather than nothing.
    """
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    try:
        for n, part in enumerate(msg.walk()):
            if part.is_multipart():
                continue
            filename = part.get_filename()
            disposition = (part.get_content_disposition() or "").lower()
            ctype = part.get_content_type()
            if disposition == "attachment" or filename:
                if len(attachments) < 100:
                    data = part.get_payload(decode=True)
                    attachments.append(
                        Attachment(
                            part=n,
                            filename=_safe_filename(_decode(str(filename or "")), n),
                            content_type=ctype[:100],
                            size=len(data) if isinstance(data, bytes) else 0,
                        )
                    )
                continue
            if ctype == "text/plain" and text is None:
                text = _content(part)
            elif ctype == "text/html" and html is None:
                html = _content(part)
    except Exception:
        payload = msg.get_payload()
        return (payload if isinstance(payload, str) else ""), "", attachments
    if text is not None:
        return text, "", attachments
    if html is not None:
        return html_to_text(html), html, attachments
    return "", "", attachments


def _content(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload.replace("\x00", "") if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        text = data.decode("utf-8", "replace")
    return text.replace("\x00", "")


def _safe_filename(name: str, n: int) -> str:
    base = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name).strip(" .")[:150]
    return base or f"attachment-{n}"


def attachment_data(raw: bytes, part: int) -> bytes | None:
    """The decoded bytes of the part at walk() index `part`, None if there is none."""
    msg = email.message_from_bytes(raw, policy=compat32)
    for n, item in enumerate(msg.walk()):
        if n == part and not item.is_multipart():
            data = item.get_payload(decode=True)
            return data if isinstance(data, bytes) else b""
    return None


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h\d)\b[^>]*>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """Text for search and the feed from an HTML-only message (not for display)."""
    import html as htmllib

    text = _BLOCK.sub("\n", html)
    text = _TAG.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", htmllib.unescape(text)).strip()
