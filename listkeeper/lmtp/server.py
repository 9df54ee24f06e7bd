"""The LMTP listener Postfix delivers list mail to."""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.lmtp import LMTP
from django.conf import settings

from listkeeper.lmtp.handler import LMTPHandler

log = logging.getLogger(__name__)


def protocol(handler: LMTPHandler) -> LMTP:
    # Postfix enforces its own message_size_limit before we see a byte; ours is
    # a backstop against memory exhaustion, not the list's limit (that is the
    # size rule, which refuses with our own notice). It is above anything
    # Postfix's queue can hold (MAX_MESSAGE_SIZE plus the 1 MiB headroom in
    # listkeeper/postfix/render.py), so LMTP never refuses what the public
    # smtpd accepted.
    return LMTP(
        handler,
        hostname="listkeeper-lmtp",
        data_size_limit=2 * settings.MAX_MESSAGE_SIZE + 2 * 1024 * 1024,
        enable_SMTPUTF8=True,
        decode_data=False,
        ident="Listkeeper LMTP",
    )


async def serve(
    host: str, port: int, stop: asyncio.Event, ready: asyncio.Future[int] | None = None
) -> None:
    """Accept LMTP until `stop` is set; then finish messages already being stored."""
    handler = LMTPHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: protocol(handler), host, port)
    bound = server.sockets[0].getsockname()[1]
    log.info("LMTP listening on %s:%d", host, bound)
    if ready is not None:
        ready.set_result(bound)
    try:
        await stop.wait()
    finally:
        server.close()
        # A message being committed must get its reply, or Postfix would send it again.
        for _ in range(300):
            if not handler.in_flight:
                break
            await asyncio.sleep(0.1)
        await server.wait_closed()
        handler.shutdown()
        log.info("LMTP stopped")
