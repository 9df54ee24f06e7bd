"""`listkeeper lmtpd`: the LMTP server Postfix hands list mail to, until SIGTERM.

It also answers Postfix's hand-off policy requests (listkeeper/delivery/handoff.py)
on HANDOFF_POLICY_LISTEN: Postfix already depends on this service, and the
policy must not run in a worker, whose death would take the answers with it.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from listkeeper.delivery import handoff
from listkeeper.lmtp.server import serve


class Command(BaseCommand):
    help = "Accept list mail from Postfix over LMTP on LMTP_LISTEN (and the hand-off policy)."

    def handle(self, *args: Any, **options: Any) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await asyncio.gather(
            serve(*settings.LMTP_LISTEN, stop),
            handoff.serve(*settings.HANDOFF_POLICY_LISTEN, stop),
        )
