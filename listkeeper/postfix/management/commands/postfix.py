"""`listkeeper postfix render DIR`: write Postfix's configuration for the current settings."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from listkeeper.postfix.render import Options, RenderError, render


class Command(BaseCommand):
    help = "Render Postfix's configuration (main.cf, master.cf, lookup tables, SASL map) into DIR."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        rend = sub.add_parser("render", help="write a complete configuration into DIR")
        rend.add_argument("dir", type=Path, help="the config directory (postfix -c DIR)")
        rend.add_argument("--queue-dir", type=Path, default=Path("/var/spool/postfix"))
        rend.add_argument("--data-dir", type=Path, default=Path("/var/lib/postfix"))
        rend.add_argument(
            "--log-file", default="/dev/stdout", help="maillog_file (default /dev/stdout)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        options = Options(
            queue_directory=opts["queue_dir"].resolve(),
            data_directory=opts["data_dir"].resolve(),
            maillog_file=opts["log_file"],
        )
        try:
            written = render(opts["dir"], options)
        except (RenderError, OSError) as exc:
            raise CommandError(str(exc)) from None
        for path in written:
            self.stdout.write(f"wrote {path}")
