"""Prefix the subject with the list's tag, once: `[tag] Hello`, `Re: [tag] Hello`.

A subject that already holds the tag anywhere (replies) is left byte for
byte as it came. Otherwise the tag goes after any reply prefixes, never
before them. RFC 2047 subjects are decoded, tagged and re-encoded.
"""

from __future__ import annotations

import re

from listkeeper.mail import headers as h
from listkeeper.mail.context import InFlight

# "Re:", "RE[2]:", "AW:", "Sv:", ... repeated, as mail clients in many languages write them.
REPLY_PREFIXES = re.compile(
    r"^(?:\s*(?:re|aw|sv|vs|antw|odp|res|ynt|wg|r)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+",
    re.IGNORECASE,
)


def tag_of(subject_tag: str) -> str:
    tag = subject_tag.strip()
    if not tag:
        return ""
    return tag if tag.startswith("[") and tag.endswith("]") else f"[{tag}]"


def tagged(subject: str, tag: str) -> str:
    if tag.lower() in subject.lower():
        return subject
    if not subject.strip():
        return f"{tag} (no subject)"
    prefix = REPLY_PREFIXES.match(subject)
    cut = prefix.end() if prefix else 0
    head = subject[:cut].rstrip()
    return f"{head} {tag} {subject[cut:]}".strip() if head else f"{tag} {subject.lstrip()}"


def handle(ctx: InFlight) -> None:
    tag = tag_of(ctx.mailing_list.subject_tag)
    if not tag:
        return
    subject = ctx.headers.get_text("Subject") or ""
    new = tagged(subject, tag)
    if new != subject:
        ctx.headers.replace("Subject", h.fold_text("Subject", new))
