"""`listkeeper mail-housekeeping [--every SECONDS]`: expire old held posts and
send the held-post notices that the once-an-hour limit postponed.

Run it from cron (once), or as a long-running process with --every.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from listkeeper.mail.moderation import housekeeping


class Command(BaseCommand):
    help = "Expire held posts past their list's limit and send postponed held-post notices."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every",
            type=int,
            default=0,
            metavar="SECONDS",
            help="keep running, once every SECONDS (default: run once and exit)",
        )

    def handle(self, *args: Any, every: int = 0, **options: Any) -> None:
        stop = threading.Event()
        if every:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        while True:
            done = housekeeping()
            self.stdout.write(
                f"expired {done['expired']} held post(s); "
                f"mailed moderators of {done['notices']} list(s)"
            )
            if not every or stop.wait(every):
                return
            close_old_connections()  # a long-running process reconnects after a database restart
