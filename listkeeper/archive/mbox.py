"""mbox in and out.

Export writes mboxrd: each message after a `From ` line, every body line that
starts with `>*From ` quoted with one more `>`, LF line endings.

Import reads what other list managers produce (Mailman 2 pipermail, Mailman 3 /
HyperKitty, Google Takeout). A line starting `From ` separates messages only
when it follows a blank line (or starts the file), carries a time and a year
like every mbox envelope line, and is followed by a header line: a body line
that merely begins with "From " (unquoted, as some archives leave it) stays
in its message. `>From ` lines are unquoted (mboxrd; for pipermail's mboxo it
restores what was quoted). Import is idempotent by Message-ID (a message
without one gets a Message-ID derived from its bytes), commits every BATCH
messages, and skips those already archived cheaply, so running it again
after an interruption resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.pool import AsyncResult, Pool
from typing import BinaryIO

from listkeeper.archive import ids, store
from listkeeper.archive.models import ArchivedMessage
from listkeeper.lists.models import MailingList

BATCH = 500

_ENVELOPE = re.compile(rb"^From \S+.*\b\d{1,2}:\d\d(?::\d\d)?\b.*\b\d{4}\b")
_HEADER = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")
_KNOWN = re.compile(rb"^(from|date|subject|message-id):", re.IGNORECASE | re.MULTILINE)
_QUOTED_FROM = re.compile(rb"^>+From ")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Entry:
    number: int  # 1-based position in the file
    line: int  # line of its "From " separator
    raw: bytes
    envelope: bytes


def read(stream: BinaryIO) -> Iterator[Entry]:
    """The messages of an mbox file, with their positions."""
    current: list[bytes] = []
    envelope = b""
    start_line = 0
    number = 0
    previous_blank = True
    pending: bytes | None = None  # a candidate separator, confirmed by the next line
    pending_raw = b""
    pending_line = 0
    for line_no, line in enumerate(stream, start=1):
        if pending is not None:
            if _HEADER.match(line):
                if current or number:
                    number += 1
                    yield Entry(number, start_line, _finish(current), envelope)
                current, envelope, start_line = [], pending, pending_line
            else:
                current.append(pending_raw)
            pending = None
        stripped = line.rstrip(b"\r\n")
        if previous_blank and line.startswith(b"From ") and _ENVELOPE.match(stripped):
            pending, pending_raw, pending_line = stripped, line, line_no
        else:
            current.append(_unquote(line))
        previous_blank = stripped == b""
    if pending is not None:
        current.append(pending_raw)
    if current and (number or envelope):
        number += 1
        yield Entry(number, start_line, _finish(current), envelope)


def _unquote(line: bytes) -> bytes:
    return line[1:] if _QUOTED_FROM.match(line) else line


def _finish(lines: list[bytes]) -> bytes:
    data = b"".join(lines)
    # The blank line before the next separator belongs to the mbox, not the message.
    if data.endswith(b"\r\n\r\n"):
        return data[:-2]
    if data.endswith(b"\n\n"):
        return data[:-1]
    return data


def envelope_date(envelope: bytes) -> datetime | None:
    """The date on a `From sender Mon Jan  1 12:00:00 2007` line."""
    text = envelope.decode("ascii", "replace")
    match = re.search(
        r"(\w{3})\s+(\d{1,2})\s+(\d{1,2}):(\d\d)(?::(\d\d))?\s+(?:([+-]\d{4})\s+)?(\d{4})", text
    )
    if not match:
        return None
    month, day, hour, minute, second, _, year = match.groups()
    try:
        return datetime.strptime(
            f"{year} {month} {day} {hour}:{minute}:{second or '00'}", "%Y %b %d %H:%M:%S"
        ).replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class ImportResult:
    imported: int = 0
    already: int = 0
    skipped: list[str] = field(default_factory=list)


def default_workers() -> int:
    """Processes to parse messages while this one stores: the other cores, at most 3."""
    return max(0, min(3, (os.cpu_count() or 1) - 1))


def import_mbox(
    ml: MailingList,
    stream: BinaryIO,
    report: Callable[[str], None] | None = None,
    *,
    workers: int = 0,
) -> ImportResult:
    """Import an mbox a batch at a time, each batch committed on its own.

    With `workers`, that many processes parse the next batches (Python's
    email parser is most of an import's time) while this one stores the
    previous batch; the result is the same as without.
    """
    result = ImportResult()
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 0 else None
    pending: deque[_Prepared] = deque()
    try:
        batch: list[Entry] = []
        for entry in read(stream):
            batch.append(entry)
            if len(batch) >= BATCH:
                pending.append(_prepare(ml, batch, result, pool))
                batch = []
                while len(pending) > workers:
                    _store(ml, pending.popleft(), result, report)
        if batch:
            pending.append(_prepare(ml, batch, result, pool))
        while pending:
            _store(ml, pending.popleft(), result, report)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return result


def message_id_of(raw: bytes) -> str:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    if match:
        found = ids.normalise_message_id(match.group(1).decode("utf-8", "replace"))
        if found:
            return found
    # No Message-ID: one derived from the bytes, so a second import finds it again.
    return f"<{hashlib.sha256(raw).hexdigest()[:32]}@archive.invalid>"


@dataclass
class _Prepared:
    """A batch whose new messages are being parsed (by a worker, or already)."""

    problems: list[tuple[Entry, str]]  # found before parsing, in file order
    entries: list[Entry]  # the ones sent to be parsed
    parsed: AsyncResult | list[store.Item | str]


def _prepare(
    ml: MailingList, batch: list[Entry], result: ImportResult, pool: Pool | None
) -> _Prepared:
    """Skip what is archived already (cheap, so resuming is quick); send the rest to parse."""
    keyed = [(entry, message_id_of(entry.raw)) for entry in batch]
    slugs = [ids.slug(mid) for _, mid in keyed]
    done = set(
        ArchivedMessage.objects.filter(mailing_list=ml, slug__in=slugs).values_list(
            "slug", flat=True
        )
    )
    problems: list[tuple[Entry, str]] = []
    entries: list[Entry] = []
    jobs: list[tuple[bytes, datetime | None]] = []
    for (entry, message_id), slug in zip(keyed, slugs, strict=True):
        if slug in done:
            result.already += 1
            continue
        done.add(slug)
        problem = _problem(entry.raw)
        if problem:
            problems.append((entry, problem))
            continue
        raw = entry.raw
        if not _MESSAGE_ID.search(raw.split(b"\n\n", 1)[0]):
            raw = f"Message-ID: {message_id}\n".encode() + raw
        entries.append(entry)
        jobs.append((raw, envelope_date(entry.envelope)))
    parsed: AsyncResult | list[store.Item | str] = (
        pool.apply_async(_parse, (ml, jobs)) if pool is not None else _parse(ml, jobs)
    )
    return _Prepared(problems, entries, parsed)


def _parse(ml: MailingList, jobs: list[tuple[bytes, datetime | None]]) -> list[store.Item | str]:
    """Each message as an Item to store, or why it cannot be read. Runs in a worker."""
    out: list[store.Item | str] = []
    for raw, fallback in jobs:
        try:
            out.append(store.item_from(ml, raw, fallback))
        except (ValueError, TypeError, LookupError, UnicodeError) as exc:
            out.append(f"cannot be read ({exc})")
    return out


def _store(
    ml: MailingList,
    prepared: _Prepared,
    result: ImportResult,
    report: Callable[[str], None] | None,
) -> None:
    parsed = prepared.parsed
    outcomes = parsed.get() if isinstance(parsed, AsyncResult) else parsed
    problems = list(prepared.problems)
    items: list[store.Item] = []
    for entry, outcome in zip(prepared.entries, outcomes, strict=True):
        if isinstance(outcome, str):
            problems.append((entry, outcome))
        else:
            items.append(outcome)
    for entry, problem in sorted(problems, key=lambda p: p[0].number):
        note = f"message {entry.number} (line {entry.line}): {problem}; skipped"
        result.skipped.append(note)
        if report:
            report(note)
    stored = store.store_many(ml, items)
    result.imported += sum(1 for m in stored if m is not None)
    result.already += sum(1 for m in stored if m is None)


def _problem(raw: bytes) -> str:
    if not raw.strip():
        return "it is empty"
    first = raw.lstrip(b"\r\n").split(b"\n", 1)[0]
    if not _HEADER.match(first):
        return "it does not start with header fields"
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    if not _KNOWN.search(head):
        return "it has none of From, Date, Subject and Message-ID"
    return ""


def export(
    ml: MailingList,
    out: BinaryIO,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Write the list's archive (or the messages dated in [start, end)) as mboxrd; how many."""
    messages = ArchivedMessage.objects.filter(mailing_list=ml)
    if start is not None:
        messages = messages.filter(date__gte=start)
    if end is not None:
        messages = messages.filter(date__lt=end)
    count = 0
    for message in (
        messages.order_by("date", "id").only("raw", "date", "author_email").iterator(chunk_size=500)
    ):
        out.write(entry_bytes(message))
        count += 1
    return count


def entry_bytes(message: ArchivedMessage) -> bytes:
    sender = message.author_email or "MAILER-DAEMON"
    sender = re.sub(r"\s", "", sender) or "MAILER-DAEMON"
    head = f"From {sender} {message.date.astimezone(UTC):%a %b %d %H:%M:%S %Y}\n".encode()
    body = bytes(message.raw).replace(b"\r\n", b"\n")
    quoted = re.sub(rb"(?m)^(>*From )", rb">\1", body)
    if not quoted.endswith(b"\n"):
        quoted += b"\n"
    return head + quoted + b"\n"
