"""`listkeeper lmtpd`: the LMTP server Postfix hands list mail to, until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from listkeeper.lmtp.server import serve


class Command(BaseCommand):
    help = "Accept list mail from Postfix over LMTP on LMTP_LISTEN."

    def handle(self, *args: Any, **options: Any) -> None:
        asyncio.run(self._run(*settings.LMTP_LISTEN))

    async def _run(self, host: str, port: int) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(host, port, stop)
