"""listkeeper archive import LIST FILE.mbox | listkeeper archive export LIST [FILE]"""

from __future__ import annotations

import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from listkeeper.archive import access, mbox
from listkeeper.lists.models import MailingList


def find(name: str) -> MailingList:
    """A list by address (NAME@DOMAIN) or List-Id (NAME.DOMAIN)."""
    if "@" in name:
        local, _, domain = name.partition("@")
        ml = MailingList.objects.filter(local_part=local.lower(), domain=domain.lower()).first()
    else:
        ml = access.find_list(name.lower())
    if ml is None:
        raise CommandError(f"no list {name!r}; give its address (NAME@DOMAIN) or List-Id")
    return ml


class Command(BaseCommand):
    help = "Import an mbox file into a list's archive, or export the archive as mbox."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser(
            "import",
            help="Import FILE (mbox: pipermail, HyperKitty, Google Takeout). "
            "Idempotent by Message-ID: running it again resumes an interrupted import.",
        )
        imp.add_argument("list")
        imp.add_argument("file")
        imp.add_argument(
            "--jobs",
            type=int,
            default=mbox.default_workers(),
            help="processes that parse messages while the import stores them "
            "(default: one per other CPU core, at most 3; 0: parse in this process)",
        )
        exp = sub.add_parser("export", help="Write the archive as mboxrd to FILE (or stdout).")
        exp.add_argument("list")
        exp.add_argument("file", nargs="?")

    def handle(self, *args: Any, **options: Any) -> None:
        ml = find(options["list"])
        if options["action"] == "import":
            self._import(ml, options["file"], max(0, options["jobs"]))
        else:
            self._export(ml, options.get("file"))

    def _import(self, ml: MailingList, path: str, jobs: int) -> None:
        started = time.monotonic()
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        with stream:
            result = mbox.import_mbox(
                ml, stream, report=lambda note: self.stderr.write(f"{path}: {note}"), workers=jobs
            )
        took = time.monotonic() - started
        self.stdout.write(
            f"{ml.address}: {result.imported} imported, {result.already} already archived, "
            f"{len(result.skipped)} skipped ({took:.1f} s)"
        )
        if result.skipped:
            sys.exit(1)

    def _export(self, ml: MailingList, path: str | None) -> None:
        if path:
            with open(path, "wb") as out:
                count = mbox.export(ml, out)
            self.stderr.write(f"{ml.address}: {count} messages written to {path}")
        else:
            count = mbox.export(ml, sys.stdout.buffer)
            sys.stdout.flush()
