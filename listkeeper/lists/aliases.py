"""Postfix virtual(5) alias files: read them as Postfix does, write them back.

Pure parsing and formatting; the import-aliases and export-aliases commands
do the database work through lists/services.py.

Postfix's rules: a logical line starts with non-whitespace text; a line that
starts with whitespace continues it; blank lines and lines whose first
non-whitespace character is `#` are ignored (also between continuation
lines). The first token is the key, the rest are targets separated by commas
and/or whitespace; double quotes protect both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from listkeeper.lib.addresses import Address, InvalidAddress, parse


@dataclass(frozen=True)
class Problem:
    line: int
    message: str
    skipped: bool = True  # False: a note; nothing was lost


@dataclass
class Entry:
    """One list: its address and its member addresses, in file order, deduped."""

    line: int
    address: Address
    members: dict[str, Address] = field(default_factory=dict)  # by Address.key


@dataclass
class AliasFile:
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return sum(1 for p in self.problems if p.skipped)


def logical_lines(data: bytes) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Yield (first line number, [(line number, text), ...]) per logical line.

    Bytes that are not UTF-8 survive as surrogates; _undecodable() finds them.
    """
    current: list[tuple[int, str]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text = raw.rstrip(b"\r").decode("utf-8", errors="surrogateescape")
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if text[0].isspace():
            current.append((number, text))
            continue
        if current:
            yield current[0][0], current
        current = [(number, text)]
    if current:
        yield current[0][0], current


def tokens(text: str) -> Iterator[str]:
    """Split on commas and whitespace, keeping double-quoted parts together."""
    token: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            token.append(char)
        elif not quoted and (char == "," or char.isspace()):
            if token:
                yield "".join(token)
                token = []
        else:
            token.append(char)
    if token:
        yield "".join(token)


def classify_target(token: str) -> str | None:
    """Why a target is not an address we can import, or None when it may be one."""
    if token.startswith("|") or token.startswith('"|'):
        return f"{token!r} is a command, not an address; not imported"
    if token.startswith("/") or token.startswith('"/'):
        return f"{token!r} is a file, not an address; not imported"
    if token.lower().startswith(":include:"):
        return f"{token!r} is an include file, not an address; not imported"
    if "@" not in token:
        return f"{token!r} is a local name without @domain, not an address; not imported"
    return None


def parse_aliases(data: bytes) -> AliasFile:
    result = AliasFile()
    by_key: dict[str, Entry] = {}
    for first, lines in logical_lines(data):
        if lines[0][1][0].isspace():
            result.problems.append(
                Problem(
                    first,
                    "a continuation line (starting with whitespace) with no entry before it; skipped",
                )
            )
            continue
        parts = [(number, tok) for number, text in lines for tok in tokens(text)]
        (_, key), targets = parts[0], parts[1:]
        entry = _entry(first, key, len(targets), by_key, result)
        if entry is None:
            continue
        for number, token in targets:
            _add_target(entry, number, token, result)
    return result


def _entry(
    line: int, key: str, targets: int, by_key: dict[str, Entry], result: AliasFile
) -> Entry | None:
    reason = ""
    if _undecodable(key):
        reason = "the line is not valid UTF-8"
    elif key.startswith("@"):
        reason = f"{key!r} is a catch-all for a whole domain, not a list address"
    elif "@" not in key:
        reason = f"{key!r} is a local name without @domain, not a list address"
    else:
        try:
            address = parse(key)
        except InvalidAddress as exc:
            reason = f"the list address {exc}"
    if reason:
        result.problems.append(Problem(line, f"{reason}; skipped with its {targets} target(s)"))
        return None
    address = Address(address.email.lower())
    existing = by_key.get(address.key)
    if existing is not None:
        result.problems.append(
            Problem(
                line,
                f"{address.email} repeats line {existing.line}; its targets are merged",
                skipped=False,
            )
        )
        return existing
    entry = Entry(line, address)
    by_key[address.key] = entry
    result.entries.append(entry)
    return entry


def _add_target(entry: Entry, line: int, token: str, result: AliasFile) -> None:
    if _undecodable(token):
        result.problems.append(Problem(line, "a target is not valid UTF-8; skipped"))
        return
    reason = classify_target(token)
    if reason:
        result.problems.append(Problem(line, reason))
        return
    try:
        address = parse(token)
    except InvalidAddress as exc:
        result.problems.append(Problem(line, f"{exc}; skipped"))
        return
    if address.key == entry.address.key:
        result.problems.append(Problem(line, f"{token!r} is the list's own address; skipped"))
        return
    entry.members.setdefault(address.key, address)


def _undecodable(text: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in text)


def format_aliases(lists: Iterable[tuple[str, list[str]]], header: str = "") -> str:
    """virtual(5) text: each list's address, then one member per continuation line."""
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    for address, members in lists:
        if out:
            out.append("")
        if not members:
            out.append(f"# {address} has no active members.")
            out.append(address)
            continue
        out.append(address)
        for i, member in enumerate(members):
            out.append(f"    {member}{',' if i < len(members) - 1 else ''}")
    return "\n".join(out) + "\n"
