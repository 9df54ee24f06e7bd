"""Names the archive derives from a message: permalink slugs, subject keys.

A permalink slug is the first 80 bits of SHA-256 over the normalised
Message-ID, in lowercase base32: the same message always gets the same URL
(re-imports, a rebuilt database), and the URL reveals neither a database id
sequence nor the Message-ID (which often carries the author's host name).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

SLUG_LENGTH = 16  # 16 base32 characters = 80 bits


def normalise_message_id(value: str | None) -> str:
    """`<abc@host>` whatever the spacing, case kept (RFC 5322: ids are case-sensitive)."""
    text = re.sub(r"\s+", "", value or "")
    found = re.search(r"<([^<>]+)>", text)
    core = found.group(1) if found else text.strip("<>")
    return f"<{core}>" if core else ""


def message_ids(value: str | None) -> list[str]:
    """Every `<id>` in a References or In-Reply-To value, in order, without repeats."""
    seen: list[str] = []
    for core in re.findall(r"<([^<>\s]+)>", value or ""):
        mid = f"<{core}>"
        if mid not in seen:
            seen.append(mid)
    return seen


# An import asks for the same parents' slugs over and over.
@lru_cache(maxsize=65536)
def slug(message_id: str) -> str:
    digest = hashlib.sha256(normalise_message_id(message_id).encode("utf-8", "replace")).digest()
    return base64.b32encode(digest).decode("ascii")[:SLUG_LENGTH].lower()


# "Re:", "RE :", "Aw:", "Sv:", "Antw:", "Fwd:" and a list tag, any number of them.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|ref|fwd?|tr|wg)\s*(?:\[\d+\])?\s*[:：]|\[[^\]]{1,60}\])\s*",
    re.IGNORECASE,
)


def strip_prefixes(subject: str) -> tuple[str, bool]:
    """The subject without reply prefixes and list tags; True when it had a reply prefix."""
    text = subject or ""
    replied = False
    while True:
        match = _PREFIX.match(text)
        if not match:
            break
        if not match.group(0).lstrip().startswith("["):
            replied = True
        text = text[match.end() :]
    return text.strip(), replied


def subject_key(subject: str) -> str:
    """What two subjects of one thread share: no prefixes, case or runs of spaces."""
    text, _ = strip_prefixes(subject)
    return re.sub(r"\s+", " ", text).casefold()[:200]
