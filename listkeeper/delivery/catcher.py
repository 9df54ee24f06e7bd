"""The local catcher: Postfix's relay when there are no SES credentials.

`serve` runs it so that a newcomer's `make run` never mails anybody: every copy
Postfix would have sent to SES is written to DATA_DIR/outbox/ as an .eml file
(the envelope prepended as Return-Path and X-Listkeeper-To headers), and the
status page lists them. Plain SMTP on a loopback port; nothing else uses it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP
from django.conf import settings

log = logging.getLogger(__name__)

_counter = itertools.count()


def outbox_dir() -> Path:
    return Path(settings.DATA_DIR) / "outbox"


class CatcherHandler:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or outbox_dir()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        sender = envelope.mail_from or ""
        sender = "" if sender == "<>" else sender
        head = f"Return-Path: <{sender}>\r\nX-Listkeeper-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        name = save(self.directory, head + (envelope.original_content or b""))
        return f"250 2.0.0 Ok: kept as {name}"


def save(directory: Path, data: bytes) -> str:
    """Write atomically (a reader never sees half a message); return the file name."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{os.getpid()}-{next(_counter)}.eml"
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.replace(directory / name)
    return name


@dataclass(frozen=True)
class Caught:
    name: str
    received: float
    sender: str
    recipients: str
    subject: str
    size: int


def caught(limit: int = 50, directory: Path | None = None) -> tuple[int, list[Caught]]:
    """How many messages the outbox holds, and the newest `limit` of them."""
    directory = directory or outbox_dir()
    try:
        files = sorted(
            (e for e in os.scandir(directory) if e.name.endswith(".eml")),
            key=lambda e: e.name,
            reverse=True,
        )
    except FileNotFoundError:
        return 0, []
    parser = BytesHeaderParser(policy=default_policy)
    result = []
    for entry in files[:limit]:
        try:
            with open(entry.path, "rb") as fh:
                headers = parser.parse(fh)
            stat = entry.stat()
        except OSError:
            continue
        result.append(
            Caught(
                name=entry.name,
                received=stat.st_mtime,
                sender=str(headers.get("Return-Path", "")).strip("<>"),
                recipients=str(headers.get("X-Listkeeper-To", "")),
                subject=str(headers.get("Subject", "")),
                size=stat.st_size,
            )
        )
    return len(files), result


async def serve(
    host: str,
    port: int,
    stop: asyncio.Event,
    ready: asyncio.Future[int] | None = None,
    directory: Path | None = None,
) -> None:
    """Catch mail on host:port (0 = any free port, reported through `ready`) until `stop`."""
    handler = CatcherHandler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="listkeeper-catcher",
            decode_data=False,
            enable_SMTPUTF8=True,
            data_size_limit=None,
        ),
        host,
        port,
    )
    bound = server.sockets[0].getsockname()[1]
    log.info("catching outgoing mail on %s:%d into %s", host, bound, handler.directory)
    if ready is not None:
        ready.set_result(bound)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
