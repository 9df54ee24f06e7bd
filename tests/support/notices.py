"""Reading the notices we queued ourselves."""

from __future__ import annotations

import re
from email.message import EmailMessage


def notice_text(delivery) -> str:
    """The text part of a message we queued ourselves."""
    from email import message_from_bytes, policy

    msg = message_from_bytes(bytes(delivery.message), policy=policy.default)
    return msg.get_body(("plain",)).get_content()


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def html_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def link_in(msg: EmailMessage, kind: str) -> str:
    """The path of the first /KIND/<token>/ link in the text part."""
    match = re.search(rf"https?://[^/\s]+(/{kind}/[^/\s]+/)", text_of(msg))
    assert match, f"no /{kind}/ link in:\n{text_of(msg)}"
    return match.group(1)
