"""What the archive reads out of a message: author, date, threading fields, text, attachments.

Everything here must survive hostile or broken mail: a message we cannot
parse still gets archived with what could be read (the raw bytes are kept).
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage, Message
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


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        return _clean(str(value)) if value is not None else ""
    except Exception:  # a header the parser chokes on is treated as absent
        return ""


def read(raw: bytes, mailing_list: MailingList | None = None) -> Parsed:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    name, address = _author(msg)
    subject = _header(msg, "Subject")
    if mailing_list is not None and mailing_list.subject_tag:
        subject = subject.replace(mailing_list.subject_tag, "", 1).strip()
    text, html = _body(msg)
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
        attachments=_attachments(msg),
    )


def _author(msg: Message) -> tuple[str, str]:
    try:
        pairs = getaddresses([str(v) for v in msg.get_all("From") or []])
    except Exception:
        pairs = []
    for name, addr in pairs:
        if "@" in addr:
            return _clean(name, 200), _clean(addr, 254).lower()
    # Mailman 2's pipermail wrote "alice at example.com (Alice)".
    text = next((str(v) for k, v in msg.raw_items() if k.lower() == "from"), "")
    found = _PIPERMAIL_FROM.match(text)
    if found:
        return _clean(found.group(3) or "", 200), f"{found.group(1)}@{found.group(2)}".lower()
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


def _body(msg: EmailMessage) -> tuple[str, str]:
    """(text/plain, text/html) of the message body; text preferred, either may be empty."""
    try:
        plain = msg.get_body(preferencelist=("plain",))
        html = None if plain is not None else msg.get_body(preferencelist=("html",))
        if plain is not None:
            return _content(plain), ""
        if html is not None:
            return html_to_text(_content(html)), _content(html)
        if msg.get_content_maintype() in ("multipart", "message"):
            return "", ""
        if msg.get_content_maintype() == "text" or not msg.get_content_type():
            return _content(msg), ""
        return "", ""
    except Exception:  # broken MIME: show the undecoded body rather than nothing
        payload = msg.get_payload()
        return (payload if isinstance(payload, str) else ""), ""


def _content(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content.replace("\x00", "")
    except Exception:
        pass
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace").replace("\x00", "")
    return ""


def _attachments(msg: Message) -> list[Attachment]:
    found: list[Attachment] = []
    try:
        for n, part in enumerate(msg.walk()):
            if part.is_multipart():
                continue
            disposition = (part.get_content_disposition() or "").lower()
            filename = part.get_filename()
            if disposition != "attachment" and not filename:
                continue
            data = part.get_payload(decode=True)
            found.append(
                Attachment(
                    part=n,
                    filename=_safe_filename(str(filename or ""), n),
                    content_type=part.get_content_type()[:100],
                    size=len(data) if isinstance(data, bytes) else 0,
                )
            )
    except Exception:
        pass
    return found[:100]


def _safe_filename(name: str, n: int) -> str:
    base = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name).strip(" .")[:150]
    return base or f"attachment-{n}"


def attachment_data(raw: bytes, part: int) -> bytes | None:
    """The decoded bytes of the part at walk() index `part`, None if there is none."""
    msg = email.message_from_bytes(raw, policy=policy.default)
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
