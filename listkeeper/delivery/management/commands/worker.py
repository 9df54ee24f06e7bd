"""`listkeeper worker`: fan accepted posts out to Postfix until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand

from listkeeper.delivery.worker import Worker


class Command(BaseCommand):
    help = "Hand queued copies to Postfix's reinjection listener, paced to SES_MAX_SEND_RATE."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", default="", help="worker name (default host:pid)")

    def handle(self, *args: Any, **options: Any) -> None:
        worker = Worker.from_settings(options["name"])
        asyncio.run(run_until_signalled(worker))


async def run_until_signalled(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stopping.set)
    await worker.run()
