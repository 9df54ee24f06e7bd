"""`listkeeper process-bounces`: act on delivery reports LMTP stored but did not process,
and close the bounce probes that waited long enough without bouncing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from listkeeper.feedback import dsn, probes


class Command(BaseCommand):
    help = "Process stored delivery reports (mail to NAME-bounces addresses) not yet processed."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--quiet", action="store_true", help="print only the summary")

    def handle(self, *args: Any, quiet: bool = False, **options: Any) -> None:
        pending = dsn.unprocessed()
        for inbound in pending:
            result = dsn.process_inbound(inbound)
            if not quiet:
                self.stdout.write(f"{inbound.id} {inbound.recipient}: {result}")
        self.stdout.write(f"{len(pending)} delivery report(s) processed")
        expired = probes.expire()
        if expired:
            self.stdout.write(f"{expired} bounce probe(s) expired without bouncing: scores reset")
