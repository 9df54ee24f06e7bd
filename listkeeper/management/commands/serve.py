"""`listkeeper serve`: everything in one process for a newcomer (what `make run` runs).

The parts are in listkeeper/serving.py. Ctrl-C or SIGTERM stops them cleanly.
"""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from listkeeper.serving import Part, default_parts, start_all, stop_all


class Command(BaseCommand):
    help = "Run the web app and, where Postfix is installed, a private Postfix instance."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--no-postfix", action="store_true", help="do not start the private Postfix"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            # The status page needs its stylesheet; whitenoise serves STATIC_ROOT.
            call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write(
                f"Listkeeper for {settings.LISTKEEPER_DOMAIN}, data in {settings.DATA_DIR}:"
            )
            try:
                running = start_all(default_parts(postfix=not opts["no_postfix"]), self.stdout)
            except OSError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(self.try_it(running))
            self.stdout.write("Press Ctrl-C to stop.")
            self.stdout.flush()
            while not stop.wait(1):
                pass
            self.stdout.write("Stopping...")
            stop_all(running, self.stdout)
            self.stdout.write("Stopped.")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def try_it(self, running: list[Part]) -> str:
        """How to send a first post to the first list, and where its copies land."""
        from listkeeper.delivery import catcher
        from listkeeper.lists.models import MailingList, Status

        ml = MailingList.objects.order_by("id").first()
        if ml is None:
            return "No list yet: sign in and create one, or run listkeeper import-aliases FILE."
        if not any(part.name == "postfix" for part in running):
            return f"Lists: {ml.address} and others; without Postfix no mail is received here."
        sub = ml.subscriptions.filter(status=Status.ACTIVE).select_related("member").first()
        sender = sub.member.email if sub else "someone@example.org"
        host, port = settings.SMTP_LISTEN
        lines = [
            f"Post to {ml.address} as its member {sender}:",
            f"  swaks --server {host}:{port} --from {sender} --to {ml.address} "
            "--header 'Subject: Hello'",
        ]
        if not settings.SES_USER:
            lines.append(
                f"  each member's copy lands in {catcher.outbox_dir()} (listed on the status page)"
            )
        return "\n".join(lines)
