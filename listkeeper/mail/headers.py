"""A message's header block as bytes, edited field by field.

Handlers change headers here instead of re-serialising a parsed message, so
every field and body byte they do not touch leaves exactly as it came in
(folding, RFC 2047 words, 8-bit bodies, nested messages). Lines end in CRLF.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email import policy
from email.header import Header, decode_header, make_header
from email.headerregistry import Address as HeaderAddress
from email.utils import getaddresses

CRLF = b"\r\n"
# What smtplib does to a message before DATA: every line ending becomes CRLF.
_EOL = re.compile(rb"\r\n|\n|\r(?!\n)")
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")
# Longest line we write ourselves before folding (RFC 5322 recommends 78).
_FOLD_AT = 78


def canonical(raw: bytes) -> bytes:
    """The message with CRLF line endings, as it goes over SMTP."""
    return _EOL.sub(CRLF, raw)


def split(raw: bytes) -> tuple[HeaderBlock, bytes]:
    """Split a canonical (CRLF) message into its header block and body bytes.

    A line that is neither a header field nor a continuation ends the header
    block, as Python's parser does; the body then starts with that line.
    """
    fields: list[bytes] = []
    pos = 0
    while pos < len(raw):
        end = raw.find(CRLF, pos)
        line_end = len(raw) if end < 0 else end + 2
        line = raw[pos:line_end]
        if line == CRLF:
            return HeaderBlock(fields), raw[line_end:]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif _FIELD.match(line):
            fields.append(line if line.endswith(CRLF) else line + CRLF)
        else:
            return HeaderBlock(fields), raw[pos:]
        pos = line_end
    return HeaderBlock(fields), b""


def field_name(field: bytes) -> str:
    match = _FIELD.match(field)
    return match.group(1).decode("ascii") if match else ""


def field_value(field: bytes) -> str:
    """The unfolded value as text; raw 8-bit bytes are read as UTF-8, else Latin-1."""
    value = field.split(b":", 1)[1]
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        # Old mailers put their local charset straight into headers; Latin-1 is
        # the common case and never fails.
        text = value.decode("latin-1")
    return re.sub(r"\r\n(?=[ \t])", "", text).strip()


def decode(value: str) -> str:
    """An RFC 2047 value as readable text; undecodable words are left as they are."""
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, ValueError, UnicodeError, AssertionError):
        return value


def is_ascii(text: str) -> bool:
    return all(ord(c) < 128 for c in text)


def _clean(text: str) -> str:
    # A CR or LF smuggled into a value we write would start a new header.
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def fold_ascii(name: str, value: str) -> bytes:
    """`Name: value` folded at ", " or spaces; long URLs stay whole (never encoded)."""
    value = _clean(value)
    out: list[str] = []
    line = head = f"{name}:"
    for word in value.split(" "):
        # Never fold before an empty word: a blank continuation line is invalid.
        if word and line != head and len(line) + 1 + len(word) > _FOLD_AT:
            out.append(line)
            line = " " + word
        else:
            line = f"{line} {word}"
    out.append(line)
    return ("\r\n".join(out) + "\r\n").encode("ascii")


def fold_text(name: str, value: str) -> bytes:
    """An unstructured field (Subject); non-ASCII text becomes RFC 2047 words."""
    value = _clean(value)
    if is_ascii(value) and "=?" not in value:
        return fold_ascii(name, value)
    return policy.SMTP.header_factory(name, value).fold(policy=policy.SMTP).encode("ascii")


def format_address(display_name: str, email: str) -> str:
    """`"Name" <email>` quoted as needed; the result goes to fold_address."""
    return str(HeaderAddress(display_name=_clean(display_name), addr_spec=email))


def fold_address(name: str, value: str) -> bytes:
    """An address field (From, Reply-To, Cc); non-ASCII names become RFC 2047 words."""
    return policy.SMTP.header_factory(name, _clean(value)).fold(policy=policy.SMTP).encode("ascii")


def phrase(text: str) -> str:
    """A display name for a field we write by hand (List-Id): as is, quoted, or RFC 2047."""
    text = _clean(text)
    if not is_ascii(text):
        return re.sub(" +", " ", Header(text, "utf-8").encode(linesep=" "))
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*", text) and "=?" not in text:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class HeaderBlock:
    def __init__(self, fields: list[bytes] | None = None) -> None:
        self.fields: list[bytes] = list(fields or [])

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.fields)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def _is(self, field: bytes, name: str) -> bool:
        return field_name(field).lower() == name.lower()

    def get(self, name: str) -> str | None:
        """The first field's unfolded value (still RFC 2047 encoded), or None."""
        for field in self.fields:
            if self._is(field, name):
                return field_value(field)
        return None

    def get_all(self, name: str) -> list[str]:
        return [field_value(f) for f in self.fields if self._is(f, name)]

    def get_text(self, name: str) -> str | None:
        """The first field's value decoded from RFC 2047, for reading and display."""
        value = self.get(name)
        return None if value is None else decode(value)

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(decoded display name, email) pairs from every field of this name."""
        pairs = getaddresses(self.get_all(name))
        return [(decode(n), e) for n, e in pairs if e]

    def remove(self, name: str) -> int:
        before = len(self.fields)
        self.fields = [f for f in self.fields if not self._is(f, name)]
        return before - len(self.fields)

    def remove_where(self, predicate: Callable[[str], bool]) -> int:
        before = len(self.fields)
        self.fields = [f for f in self.fields if not predicate(field_name(f))]
        return before - len(self.fields)

    def add(self, field: bytes) -> None:
        self.fields.append(field)

    def replace(self, name: str, field: bytes) -> None:
        """Put `field` where the first `name` field was (or at the end); drop the others."""
        for i, existing in enumerate(self.fields):
            if self._is(existing, name):
                self.fields[i] = field
                self.fields = self.fields[: i + 1] + [
                    f for f in self.fields[i + 1 :] if not self._is(f, name)
                ]
                return
        self.fields.append(field)

    def raw(self, name: str) -> bytes | None:
        for field in self.fields:
            if self._is(field, name):
                return field
        return None

    def as_bytes(self) -> bytes:
        return b"".join(self.fields)
