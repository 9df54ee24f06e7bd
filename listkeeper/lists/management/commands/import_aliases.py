"""`listkeeper import-aliases FILE`: lists and members from a Postfix virtual(5) file.

An alias file names no owners; `--owner ADDRESS` makes ADDRESS the owner of
every imported list that has none, so held posts and -owner mail reach a
person (without it they go to the site admins, and the dashboard warns).
"""

from __future__ import annotations

from argparse import ArgumentParser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists import services
from listkeeper.lists.aliases import AliasFile, Entry, Problem, parse_aliases
from listkeeper.lists.models import MailingList, Role, Source, Status, Subscription
from listkeeper.lists.routing import serves_domain

ACTOR = "command:import-aliases"
CHUNK = 2000


@dataclass
class Totals:
    lists: int = 0
    lists_created: int = 0
    members_created: int = 0
    subscriptions_created: int = 0
    kept: int = 0  # already subscribed (in any status): left as they are
    skipped: int = 0
    owners_set: int = 0

    def summary(self) -> str:
        return (
            f"lists: {self.lists} ({self.lists_created} created), "
            f"members created: {self.members_created}, "
            f"subscriptions created: {self.subscriptions_created}, "
            f"already there: {self.kept}, skipped: {self.skipped}, "
            f"owner added to: {self.owners_set}"
        )


class Command(BaseCommand):
    help = (
        "Import lists and members from a Postfix virtual alias file. Safe to run again: "
        "existing lists and subscriptions (also unsubscribed ones) are left as they are."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would change, write nothing"
        )
        parser.add_argument(
            "--owner",
            metavar="ADDRESS",
            help="make ADDRESS (a real mailbox) the owner of every imported list without one",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the database already holds a list",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"]
        if opts["if_empty"] and MailingList.objects.exists():
            count = MailingList.objects.count()
            self.stdout.write(
                f"The database already holds {count} list(s); {path} not imported (--if-empty)."
            )
            return
        owner = self._owner(opts.get("owner") or "")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        parsed = parse_aliases(data)
        totals = Totals()
        problems = list(parsed.problems)
        with transaction.atomic():
            for entry in parsed.entries:
                self._import_entry(entry, totals, problems, owner)
            if opts["dry_run"]:
                transaction.set_rollback(True)
        totals.skipped = sum(1 for p in problems if p.skipped)
        for problem in sorted(problems, key=lambda p: p.line):
            self.stderr.write(f"{path}:{problem.line}: {problem.message}")
        self._note_domains(parsed)
        prefix = "Dry run, nothing written. Would import " if opts["dry_run"] else "Imported "
        self.stdout.write(f"{prefix}{path}: {totals.summary()}")
        if totals.skipped:
            raise CommandError(
                f"{totals.skipped} item(s) of {path} were skipped (listed above); "
                "fix them and run the import again",
                returncode=1,
            )

    def _owner(self, raw: str) -> Address | None:
        if not raw:
            return None
        try:
            addr = parse(raw)
        except InvalidAddress as exc:
            raise CommandError(f"--owner: {exc}. Give an address like you@example.org.") from None
        if serves_domain(addr.domain):
            raise CommandError(
                f"--owner {addr.email} is in a domain Listkeeper serves; mail to it would never "
                "reach a person. Give an address at your own mail provider."
            )
        return addr

    def _set_owner(self, ml: MailingList, owner: Address, totals: Totals) -> None:
        has_owner = (
            Subscription.objects.filter(mailing_list=ml, role=Role.OWNER)
            .exclude(status=Status.UNSUBSCRIBED)
            .exists()
        )
        if has_owner:
            return
        sub = services.subscribe(
            ml, owner, actor=ACTOR, source=Source.IMPORT, role=Role.OWNER
        ).subscription
        if sub.role != Role.OWNER:  # was a member already
            services.set_role(sub, Role.OWNER, actor=ACTOR)
        totals.owners_set += 1

    def _import_entry(
        self, entry: Entry, totals: Totals, problems: list[Problem], owner: Address | None = None
    ) -> None:
        addr = entry.address
        ml = MailingList.objects.filter(local_part=addr.local_part, domain=addr.domain).first()
        if ml is None:
            try:
                ml = services.create_list(addr.local_part, addr.domain, actor=ACTOR)
            except services.ServiceError as exc:
                problems.append(
                    Problem(entry.line, f"{exc}; skipped with its {len(entry.members)} member(s)")
                )
                return
            totals.lists_created += 1
        totals.lists += 1
        # Leave every existing subscription alone: someone who unsubscribed
        # must not be put back by a second import.
        keys = list(entry.members)
        present: set[str] = set()
        for start in range(0, len(keys), CHUNK):  # SQLite limits the parameters of one query
            present.update(
                Subscription.objects.filter(
                    mailing_list=ml, member__key__in=keys[start : start + CHUNK]
                ).values_list("member__key", flat=True)
            )
        new = [a for key, a in entry.members.items() if key not in present]
        totals.kept += len(present)
        if new:
            result = services.bulk_subscribe(ml, new, actor=ACTOR, source=Source.IMPORT)
            totals.members_created += result.members_created
            totals.subscriptions_created += len(result.added)
        if owner is not None:
            self._set_owner(ml, owner, totals)

    def _note_domains(self, parsed: AliasFile) -> None:
        others = sorted({e.address.domain for e in parsed.entries} - {settings.LISTKEEPER_DOMAIN})
        if others:
            self.stdout.write(
                f"Note: lists in {', '.join(others)} (LISTKEEPER_DOMAIN is {settings.LISTKEEPER_DOMAIN}); "
                "Postfix accepts mail for every domain that has a list."
            )
