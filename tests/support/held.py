"""Held posts as the mail pipeline stores them, for the moderation tests."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from listkeeper.mail.models import Post, PostStatus

HOSTILE_HTML = """<html><head><style>body { background: url(https://track.example/bg.png) }</style>
<script>document.title = 'pwned'</script></head>
<body><p onclick="steal()">Buy <b>now</b></p>
<img src="https://track.example/pixel.gif?u=1" onerror="alert('xss')" alt="pixel">
<a href="javascript:alert(1)">click</a>
<a href="https://shop.example/">shop</a></body></html>"""


def make_message(
    sender: str = "stranger@outside.example",
    subject: str = "Cheap watches",
    text: str = "Plain words for the moderator.\n",
    html: str | None = None,
    attachment: tuple[str, str, bytes] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Stranger <{sender}>"
    msg["To"] = "community@lists.example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash((sender, subject)))}@outside.example>"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attachment is not None:
        name, ctype, data = attachment
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def hold(
    ml: Any,
    raw: bytes | None = None,
    *,
    sender: str = "stranger@outside.example",
    subject: str = "Cheap watches",
    reason: str = "The sender is not a member",
) -> Post:
    """A post as the mail pipeline stores one it holds."""
    raw = raw or make_message(sender=sender, subject=subject)
    return Post.objects.create(
        mailing_list=ml,
        sender=sender,
        author=sender,
        subject=subject,
        raw=raw,
        size=len(raw),
        status=PostStatus.HELD,
        reason=reason,
    )
