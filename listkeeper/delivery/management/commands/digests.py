"""`listkeeper digests send [--list ADDRESS] [--now]`: send the digests that are due.

`serve` runs this every minute and the compose `housekeeping` service every
HOUSEKEEPING_EVERY seconds; run it from cron otherwise. `--now` sends every
pending digest whatever its schedule.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from listkeeper.delivery import digests
from listkeeper.lists.models import MailingList

ACTOR = "command:digests"


class Command(BaseCommand):
    help = "Send the digests that are due (or, with --now, every pending one)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="send")
        send = sub.add_parser("send", help="cut and queue the digests that are due")
        send.add_argument("--list", dest="address", metavar="ADDRESS", help="only this list")
        send.add_argument(
            "--now", action="store_true", help="send every pending digest, due or not"
        )
        send.add_argument("--quiet", action="store_true", help="print nothing when none is due")

    def handle(self, *args: Any, **options: Any) -> None:
        address = options.get("address")
        if address:
            local, _, domain = address.strip().lower().partition("@")
            if not MailingList.objects.filter(local_part=local, domain=domain).exists():
                raise CommandError(
                    f"there is no list {address}; `listkeeper` lists them on the web"
                )
        issues = digests.send_due(address=address, everything=options["now"], actor=ACTOR)
        for issue in issues:
            self.stdout.write(f"{issue}: {issue.posts} post(s) to {issue.recipients} member(s)")
        if not issues and not options["quiet"]:
            self.stdout.write(
                "No digest is due." if not options["now"] else "No posts are pending."
            )
