from __future__ import annotations

import io
from datetime import UTC, datetime

from listkeeper.archive import mbox
from listkeeper.archive.models import ArchivedMessage, Thread

PIPERMAIL = b"""From alice at example.com  Mon Jan  1 12:00:00 2007
From: alice at example.com (Alice)
Date: Mon, 01 Jan 2007 12:00:00 +0000
Subject: [Community] First
Message-ID: <one@x>

Hello.
>From the start we said so.

From bob at example.org  Mon Jan  1 13:00:00 2007
From: bob at example.org (Bob)
Date: Mon, 01 Jan 2007 13:00:00 +0000
Subject: Re: [Community] First
Message-ID: <two@x>
In-Reply-To: <one@x>

From what I remember at 10:30 in 2006 it was fine.

From here on, a line that starts with From.
From carol Mon Jan  1 14:00:00 2007
this line follows a "From " line that looks like an envelope, but no header follows.

From nobody  Mon Jan  1 15:00:00 2007
X-Junk: 1

this is not a message: none of From, Date, Subject or Message-ID

From dave@example.net Tue Jan  2 09:00:00 +0000 2007
From: Dave <dave@example.net>
Subject: No date, no Message-ID

Body of a message dated only by its envelope.
"""


def test_it_reads_messages_with_positions_and_keeps_from_lines_in_bodies() -> None:
    entries = list(mbox.read(io.BytesIO(PIPERMAIL)))

    assert [(e.number, e.line) for e in entries] == [(1, 1), (2, 10), (3, 23), (4, 28)]
    second = entries[1].raw.decode()
    assert "From what I remember at 10:30 in 2006 it was fine." in second
    assert "From carol Mon Jan  1 14:00:00 2007\nthis line follows" in second
    assert "\n>From the start" not in entries[0].raw.decode()
    assert "\nFrom the start we said so." in entries[0].raw.decode()


def test_import_reports_what_it_skips_and_is_idempotent(ml) -> None:
    notes: list[str] = []
    result = mbox.import_mbox(ml, io.BytesIO(PIPERMAIL), notes.append)

    assert (result.imported, result.already) == (3, 0)
    assert notes == [
        "message 3 (line 23): it has none of From, Date, Subject and Message-ID; skipped"
    ]
    first = ArchivedMessage.objects.get(message_id="<one@x>")
    assert (first.author_name, first.author_email) == ("Alice", "alice@example.com")
    assert first.subject == "[Community] First"
    assert first.date == datetime(2007, 1, 1, 12, 0, tzinfo=UTC)
    undated = ArchivedMessage.objects.get(subject="No date, no Message-ID")
    assert undated.date == datetime(2007, 1, 2, 9, 0, tzinfo=UTC)
    assert undated.message_id.endswith("@archive.invalid>")
    assert Thread.objects.get(slug=first.slug).count == 2

    again = mbox.import_mbox(ml, io.BytesIO(PIPERMAIL))
    assert (again.imported, again.already) == (0, 3)
    assert ArchivedMessage.objects.count() == 3


def test_a_date_from_received_when_date_is_missing(ml) -> None:
    data = (
        b"From x Mon Jan  1 12:00:00 2007\n"
        b"Received: from a by b; Wed, 3 Mar 2010 10:00:00 +0100\n"
        b"From: x@example.org\nMessage-ID: <r@x>\nSubject: s\n\nbody\n"
    )
    mbox.import_mbox(ml, io.BytesIO(data))

    assert ArchivedMessage.objects.get().date == datetime(2010, 3, 3, 9, 0, tzinfo=UTC)


def test_export_then_import_gives_the_same_messages(ml, community) -> None:
    mbox.import_mbox(ml, io.BytesIO(PIPERMAIL))
    out = io.BytesIO()
    assert mbox.export(ml, out) == 3
    exported = out.getvalue()
    assert b"\n>From what I remember" in exported  # mboxrd quoting
    assert b"\n>>From the start" not in exported

    from listkeeper.lists import services

    copy = services.create_list("copy", "lists.example.org", actor="test")
    result = mbox.import_mbox(copy, io.BytesIO(exported))

    assert result.imported == 3 and not result.skipped
    original = {m.message_id: bytes(m.raw) for m in ArchivedMessage.objects.filter(mailing_list=ml)}
    copied = {m.message_id: bytes(m.raw) for m in ArchivedMessage.objects.filter(mailing_list=copy)}
    assert original.keys() == copied.keys()
    for key, raw in original.items():
        assert copied[key].replace(b"\r\n", b"\n").endswith(raw.replace(b"\r\n", b"\n"))


def test_the_command_imports_and_exports(cli, ml, tmp_path) -> None:
    source = tmp_path / "old.mbox"
    source.write_bytes(PIPERMAIL)

    first = cli("archive", "import", "community@lists.example.org", str(source))
    second = cli("archive", "import", "community.lists.example.org", str(source))
    exported = cli("archive", "export", "community@lists.example.org")

    assert first.returncode == 1  # something was skipped
    assert "3 imported, 0 already archived, 1 skipped" in first.stdout
    assert f"{source}: message 3 (line 23)" in first.stderr
    assert "0 imported, 3 already archived" in second.stdout
    assert exported.returncode == 0
    assert exported.stdout.count("\nFrom ") + exported.stdout.startswith("From ") == 3
    assert cli("archive", "import", "nosuch@lists.example.org", str(source)).returncode != 0


def test_parsing_in_worker_processes_imports_the_same_as_in_one(ml, db) -> None:
    from listkeeper.lists import services

    other = services.create_list("other", "lists.example.org", actor="test")
    # Enough batches that several are parsed ahead while earlier ones are stored,
    # with replies before their parents, a duplicate and an unreadable message.
    parts = []
    for n in range(mbox.BATCH * 2 + 37):
        parent = f"In-Reply-To: <w{n + 700}@x>\n" if n % 3 == 0 else ""
        parts.append(
            f"From a@example.org Mon Jan  1 12:00:00 2007\n"
            f"From: A <a@example.org>\nSubject: Re: Topic {n % 40}\n"
            f"Message-ID: <w{n}@x>\n{parent}Date: Mon, 01 Jan 2007 12:00:00 +0000\n\n"
            f"Body {n}.\n"
        )
    parts.insert(5, parts[3])
    parts.insert(9, "From x@example.org Mon Jan  1 12:00:00 2007\nX-Junk: 1\n\nno headers\n")
    data = "\n".join(parts).encode()

    def shape(mailing_list) -> list[tuple[str, str, int, str]]:
        return sorted(
            ArchivedMessage.objects.filter(mailing_list=mailing_list).values_list(
                "message_id", "path", "depth", "thread__slug"
            )
        )

    notes: list[str] = []
    serial = mbox.import_mbox(ml, io.BytesIO(data), notes.append)
    parallel_notes: list[str] = []
    parallel = mbox.import_mbox(other, io.BytesIO(data), parallel_notes.append, workers=2)

    assert (parallel.imported, parallel.already) == (serial.imported, serial.already)
    assert serial.imported == mbox.BATCH * 2 + 37 and serial.already == 1
    assert parallel_notes == notes and len(notes) == 1
    assert shape(other) == shape(ml)
