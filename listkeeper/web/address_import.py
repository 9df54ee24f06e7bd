"""Bulk add: read a paste or CSV, check every row, then add the valid ones.

Reading is pure (`read_rows`); checking (`analyse`) and adding (`commit`)
run in a thread of the web process so no request stays open for the minutes a
100,000-row file could take on a slow database. Each phase records a heartbeat;
a job whose heartbeat went stale (the process restarted) is claimed again by
the next look at its page and carries on where it stopped. Membership changes
go through services.bulk_subscribe.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, getaddresses

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from listkeeper.lib.addresses import Address, InvalidAddress, normalise
from listkeeper.lists import services
from listkeeper.lists.models import Source, Status, Subscription
from listkeeper.web.models import BulkImport, BulkImportProblem, ImportState, ProblemKind

log = logging.getLogger(__name__)

EMAIL_HEADERS = {"email", "e-mail", "email address", "e-mail address", "mail", "address"}
NAME_HEADERS = {"name", "full name", "fullname", "display name"}
FIRST_HEADERS = {"first name", "firstname", "given name"}
LAST_HEADERS = {"last name", "lastname", "surname", "family name"}
NAME_ADDR_RE = re.compile(r"^(?P<name>.*?)\s*<(?P<addr>[^<>]*)>\s*$")
STALE = timedelta(seconds=60)
CHUNK = 5000
# SQLite accepts 32,766 parameters; stay far below for any database.
IN_CHUNK = 900


class UnreadableInput(ValueError):
    """The whole input cannot be read; str() says why and what to do."""


@dataclass
class Row:
    line: int
    raw: str
    address: Address | None = None
    error: str = ""


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(
            _(
                "The file is not UTF-8 text (byte 0x%(byte)02x at position %(position)s). "
                "Save it as 'CSV UTF-8' and upload it again."
            )
            % {"byte": data[exc.start], "position": exc.start}
        ) from None


class Normaliser:
    """lib.addresses.normalise, fast for the common case of a file's 100,000 rows.

    Validating the domain is most of normalise's cost and a file repeats few
    domains, so each domain is checked once (by normalise itself). A plain
    dot-atom local part is accepted exactly as email_validator accepts it;
    anything else goes through normalise whole, so results and error
    messages are the same as normalise's.
    """

    def __init__(self) -> None:
        self.domains: dict[str, str | None] = {}

    def __call__(self, raw: str) -> str:
        text = raw.strip()
        if text.startswith("<") and text.endswith(">"):
            text = text[1:-1].strip()
        local, _at, domain = text.rpartition("@")
        if local and DOT_ATOM_TEXT.match(local):
            if domain not in self.domains:
                try:
                    self.domains[domain] = normalise(f"a@{domain}").rpartition("@")[2]
                except InvalidAddress:
                    self.domains[domain] = None
            checked = self.domains[domain]
            if checked is not None:
                result = f"{local}@{checked}"
                if len(result) <= EMAIL_MAX_LENGTH:
                    return result
        return normalise(raw)


def _address(raw: str, name: str = "", normalise: Callable[[str], str] = normalise) -> Address:
    """`addr`, `<addr>` or `Name <addr>`; a name column wins over the angle form's name."""
    m = NAME_ADDR_RE.match(raw)
    if m:
        found = m.group("name").strip().strip('"').strip()
        return Address(normalise(m.group("addr")), name or found)
    return Address(normalise(raw), name)


def _delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "\t" in first:
        return "\t"
    if ";" in first and "," not in first:
        return ";"
    return ","


def _header(cells: list[str]) -> tuple[int, Callable[[list[str]], str]] | None:
    """(email column, name getter) when `cells` is a header row."""
    lowered = [c.strip().lower() for c in cells]
    if any("@" in c for c in lowered):
        return None
    email = next((i for i, c in enumerate(lowered) if c in EMAIL_HEADERS), None)
    if email is None:
        if len([c for c in lowered if c]) > 1:
            raise UnreadableInput(
                _(
                    "Line 1 (%(cells)s) looks like a header but has no column called "
                    "'email'. Name the address column 'email' (and the name column 'name')."
                )
                % {"cells": ", ".join(cells)}
            )
        return None
    name = next((i for i, c in enumerate(lowered) if c in NAME_HEADERS), None)
    first = next((i for i, c in enumerate(lowered) if c in FIRST_HEADERS), None)
    last = next((i for i, c in enumerate(lowered) if c in LAST_HEADERS), None)

    def cell(row: list[str], i: int | None) -> str:
        return row[i].strip() if i is not None and i < len(row) else ""

    def get_name(row: list[str]) -> str:
        return cell(row, name) or " ".join(p for p in (cell(row, first), cell(row, last)) if p)

    return email, get_name


def _row(line: int, raw: str, name: str = "", normalise: Callable[[str], str] = normalise) -> Row:
    try:
        return Row(line, raw, _address(raw, name, normalise))
    except InvalidAddress as exc:
        return Row(line, raw, error=str(exc))


# A pasted line that holds no quoted or bracketed part: split on these.
PLAIN_SEPARATORS = re.compile(r"[,;\s]+")


def _pasted_pairs(line: str) -> list[tuple[str, str, str]]:
    """(as written, name, address) for each address on one pasted line.

    Lines are address lists as a mail client writes them (Outlook separates
    with `;`, others with `,`): parsed by email.utils.getaddresses, one line at
    a time so an unbalanced quote cannot swallow the lines after it. A piece
    without `@` is a name: it belongs to the address after it (Outlook's
    `Roe, John <john@…>`), or else to the address before it (`ann@…, Ann`).
    """
    if not any(c in line for c in '<"('):
        pieces = [(p, "", p) for p in PLAIN_SEPARATORS.split(line.strip()) if p]
        # Plain words around plain addresses: "Ann Example ann@example.org".
        words: list[str] = []
        out: list[tuple[str, str, str]] = []
        for raw, _name, addr in pieces:
            if "@" in addr:
                out.append((" ".join([*words, raw]), " ".join(words), addr))
                words = []
            else:
                words.append(raw)
        if words and out and not out[-1][1]:
            raw, _name, addr = out[-1]
            out[-1] = (f"{raw}, {' '.join(words)}", " ".join(words), addr)
        elif words:
            out.append((" ".join(words), "", " ".join(words)))
        return out
    out = []
    pending = ""
    for name, addr in getaddresses([line.replace(";", ",")]):
        if not addr or "@" not in addr:
            # A name split off by a comma inside an unquoted display name.
            pending = ", ".join(p for p in (pending, name or addr) if p)
            continue
        name = ", ".join(p for p in (pending, name) if p)
        pending = ""
        out.append((formataddr((name, addr)) if name else addr, name, addr))
    if pending and out and not out[-1][1]:
        raw, _name, addr = out[-1]
        out[-1] = (f"{raw}, {pending}", pending, addr)
    elif pending:
        out.append((pending, "", pending))
    return out


def read_pasted(text: str) -> Iterator[Row]:
    """Every address in pasted text, with the line it was on."""
    fast = Normaliser()
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if line.count('"') % 2:
            yield Row(
                number,
                line.strip(),
                error='a quote (") opens here but does not close; add the closing quote or remove it',
            )
            continue
        for raw, name, addr in _pasted_pairs(line):
            try:
                yield Row(number, raw, Address(fast(addr), name.strip()))
            except InvalidAddress as exc:
                yield Row(number, raw, error=str(exc))


def read_rows(text: str) -> Iterator[Row]:
    """Every address-bearing row of a CSV file, with its line number."""
    text = text.lstrip("\ufeff")
    fast = Normaliser()

    def row(line: int, raw: str, name: str = "") -> Row:
        return _row(line, raw, name, fast)

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header: tuple[int, Callable[[list[str]], str]] | None = None
    first = True
    for cells in reader:
        line = reader.line_num
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if first:
            first = False
            header = _header(cells)
            if header:
                continue
        if header:
            col, get_name = header
            raw = cells[col] if col < len(cells) else ""
            if not raw:
                yield Row(line, ", ".join(cells), error="the email column is empty")
                continue
            yield row(line, raw, get_name(cells))
            continue
        filled = [c for c in cells if c]
        with_at = [c for c in filled if "@" in c]
        if len(filled) == 1 or any("<" in c for c in filled):
            yield row(line, ", ".join(filled))
        elif len(with_at) > 1:
            # Several addresses on one pasted line: "a@example.org, b@example.org".
            for c in with_at:
                yield row(line, c)
        elif with_at:
            name = next((c for c in filled if c is not with_at[0]), "")
            yield row(line, with_at[0], name)
        else:
            yield Row(line, ", ".join(filled), error="no address on this line")


# The jobs ----------------------------------------------------------------


def run(job_id: int, phase: Callable[[int], None]) -> None:
    """Run a phase in a thread, or inline when threads are off (tests)."""
    if not settings.BULK_IMPORT_THREADS:
        phase(job_id)
        return

    def target() -> None:
        try:
            phase(job_id)
        except Exception:
            log.exception("bulk import %s failed", job_id)
            BulkImport.objects.filter(id=job_id).update(
                state=ImportState.FAILED,
                error="An unexpected error stopped the import; see the server log.",
            )
        finally:
            connections.close_all()

    threading.Thread(target=target, name=f"bulk-import-{job_id}", daemon=True).start()


def claim(job: BulkImport) -> bool:
    """Take over a job nobody is working on (new, or its worker died)."""
    now = timezone.now()
    return bool(
        BulkImport.objects.filter(
            Q(heartbeat__isnull=True) | Q(heartbeat__lt=now - STALE),
            id=job.id,
            state__in=[ImportState.ANALYSING, ImportState.IMPORTING],
        ).update(heartbeat=now)
    )


def resume(job: BulkImport) -> None:
    """Called when a job's page is shown: start or restart its current phase."""
    if job.state in (ImportState.ANALYSING, ImportState.IMPORTING) and claim(job):
        run(job.id, analyse if job.state == ImportState.ANALYSING else commit)


def _beat(job_id: int, **fields: object) -> None:
    BulkImport.objects.filter(id=job_id).update(heartbeat=timezone.now(), **fields)


def analyse(job_id: int) -> None:
    """Check every row; record counts, problem rows and the addresses to add."""
    job = BulkImport.objects.get(id=job_id)
    BulkImportProblem.objects.filter(bulk_import=job).delete()
    problems: list[BulkImportProblem] = []

    def problem(line: int, kind: str, value: str, message: str) -> None:
        problems.append(
            BulkImportProblem(
                bulk_import=job, line=line, kind=kind, value=value[:500], message=message[:500]
            )
        )
        if len(problems) >= CHUNK:
            BulkImportProblem.objects.bulk_create(problems)
            problems.clear()

    try:
        rows = 0
        seen: dict[str, int] = {}
        valid: list[tuple[int, Address]] = []
        invalid = duplicates = 0
        for row in (read_pasted if job.pasted else read_rows)(job.text):
            rows += 1
            if row.address is None:
                invalid += 1
                problem(row.line, ProblemKind.INVALID, row.raw, row.error)
                continue
            key = row.address.key
            if key in seen:
                duplicates += 1
                problem(
                    row.line, ProblemKind.DUPLICATE, row.raw, f"same address as line {seen[key]}"
                )
                continue
            seen[key] = row.line
            valid.append((row.line, row.address))
            if rows % 10000 == 0:
                _beat(job_id, rows=rows)
    except UnreadableInput as exc:
        _beat(job_id, state=ImportState.FAILED, error=str(exc), text="")
        return

    summary: dict[str, dict[str, int]] = {}
    for ml in job.lists.order_by("id"):
        counts = {"new": 0, "back": 0, "already": 0}
        for start in range(0, len(valid), IN_CHUNK):
            chunk = valid[start : start + IN_CHUNK]
            status = dict(
                Subscription.objects.filter(
                    mailing_list=ml, member_key__in=[a.key for _, a in chunk]
                ).values_list("member_key", "status")
            )
            for line, addr in chunk:
                st = status.get(addr.key)
                if st is None:
                    counts["new"] += 1
                elif st == Status.ACTIVE:
                    counts["already"] += 1
                    problem(
                        line, ProblemKind.ALREADY, addr.email, f"already a member of {ml.address}"
                    )
                else:
                    counts["back"] += 1
            if start % (IN_CHUNK * 10) == 0:
                _beat(job_id)
        summary[str(ml.id)] = counts
    BulkImportProblem.objects.bulk_create(problems)
    lines = "\n".join(
        f"{a.email}\t{a.name.replace(chr(9), ' ').replace(chr(10), ' ')}" for _, a in valid
    )
    _beat(
        job_id,
        state=ImportState.PREVIEW,
        rows=rows,
        valid=len(valid),
        invalid=invalid,
        duplicates=duplicates,
        summary=summary,
        addresses=lines,
        text="",
    )


def start_commit(job: BulkImport) -> bool:
    """Move a previewed job to importing, once; False if it was not waiting."""
    lists = job.lists.count()
    with transaction.atomic():
        moved = BulkImport.objects.filter(id=job.id, state=ImportState.PREVIEW).update(
            state=ImportState.IMPORTING, total=job.valid * lists, done=0, heartbeat=None
        )
    if moved:
        job.refresh_from_db()
        resume(job)
    return bool(moved)


def commit(job_id: int) -> None:
    job = BulkImport.objects.get(id=job_id)
    addresses = [
        Address(email, name)
        for email, _, name in (line.partition("\t") for line in job.addresses.splitlines())
    ]
    n = len(addresses)
    result = dict(job.result)
    for index, ml in enumerate(job.lists.order_by("id")):
        skip = job.done - index * n  # what an earlier, interrupted run already did
        if skip >= n:
            continue
        skip = max(0, skip)

        def progress(count: int) -> None:
            _beat(job_id, done=F("done") + count)

        got = services.bulk_subscribe(
            ml,
            addresses[skip:],
            actor=job.actor,
            source=Source.IMPORT,
            batch_size=CHUNK,
            progress=progress,
        )
        before = result.get(str(ml.id), {"added": 0, "reactivated": 0, "already": 0})
        result[str(ml.id)] = {
            "added": before["added"] + len(got.added),
            "reactivated": before["reactivated"] + len(got.reactivated),
            "already": before["already"] + len(got.already),
        }
        _beat(job_id, result=result)
    _beat(job_id, state=ImportState.DONE, finished=timezone.now(), done=F("total"))
