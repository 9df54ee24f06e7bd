"""What a moderator may safely see of a held post.

The text/plain part as text; the HTML part sanitised with nh3 (no scripts,
styles, event handlers or remote images, so opening the queue tells a spammer
nothing); attachments described by name, type and size, never decoded for
display or served.
"""

from __future__ import annotations

import email
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

import nh3

MAX_TEXT = 200_000  # characters shown of each part; a preview, not an archive

SAFE_LINK_SCHEMES = ("http:", "https:", "mailto:")
TAGS = set(nh3.ALLOWED_TAGS) - {"area", "map"}


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass
class Preview:
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str = ""  # already sanitised
    blocked_images: int = 0
    attachments: list[Attachment] = field(default_factory=list)
    truncated: bool = False
    problem: str = ""


def sanitise_html(html: str) -> tuple[str, int]:
    """Sanitised HTML and how many images were dropped (remote or otherwise)."""
    blocked = 0

    def keep(tag: str, attr: str, value: str) -> str | None:
        nonlocal blocked
        lowered = value.strip().lower()
        if tag == "img" and attr == "src":
            if lowered.startswith("data:image/"):
                return value
            blocked += 1
            return None
        if attr in ("href", "cite") and not lowered.startswith(SAFE_LINK_SCHEMES):
            return None
        return value

    clean = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style", "title", "head", "template", "noscript"},
        attribute_filter=keep,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return clean, blocked


def _content(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset, bad encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def _size(part: EmailMessage) -> int:
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def preview(raw: bytes) -> Preview:
    result = Preview()
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
    except Exception as exc:  # the email package can fail in many ways on junk
        result.problem = f"The message could not be parsed ({exc.__class__.__name__})."
        return result
    assert isinstance(msg, EmailMessage)
    for name in ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID"):
        try:
            value = msg.get(name)
        except Exception:  # a malformed header
            value = "(unreadable)"
        if value:
            result.headers.append((name, str(value)))

    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        attachment = part.is_attachment() or part.get_filename()
        if not attachment and ctype == "text/plain" and not result.text:
            result.text = _content(part)
        elif not attachment and ctype == "text/html" and not result.html:
            result.html, result.blocked_images = sanitise_html(_content(part)[:MAX_TEXT])
        else:
            result.attachments.append(
                Attachment(part.get_filename() or "(no name)", ctype, _size(part))
            )
    if len(result.text) > MAX_TEXT:
        result.text, result.truncated = result.text[:MAX_TEXT], True
    return result
