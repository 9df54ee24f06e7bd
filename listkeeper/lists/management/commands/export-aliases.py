"""`listkeeper export-aliases [FILE]`: the lists and active members as a virtual(5) file."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from listkeeper.lists.aliases import format_aliases
from listkeeper.lists.models import MailingList, Status


class Command(BaseCommand):
    help = "Write every list and its active members in Postfix virtual alias syntax (stdout without FILE)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", nargs="?", type=Path)

    def handle(self, *args: Any, **opts: Any) -> None:
        lists = []
        for ml in MailingList.objects.order_by("domain", "local_part"):
            members = list(
                ml.subscriptions.filter(status=Status.ACTIVE)
                .order_by("member__key")
                .values_list("member__email", flat=True)
            )
            lists.append((ml.address, members))
        header = (
            f"Exported by listkeeper export-aliases at {timezone.now():%Y-%m-%d %H:%M} UTC.\n"
            "Active members only; `listkeeper import-aliases` reads this back."
        )
        text = format_aliases(lists, header)
        path: Path | None = opts["file"]
        if path is None:
            self.stdout.write(text, ending="")
            return
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from None
        self.stderr.write(f"Wrote {len(lists)} list(s) to {path}")
