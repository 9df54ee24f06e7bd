"""A plain-socket LMTP client that shows every reply, and a database that is down."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from unittest import mock

from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper


class LMTPClient:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.file = self.sock.makefile("rb")
        self.reply()  # greeting
        self.command("LHLO test.example")

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline().decode().rstrip("\r\n")
            lines.append(line)
            if line[3:4] != "-":
                return "\n".join(lines)

    def command(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def send(self, sender: str, recipients: list[str], message: bytes) -> list[str]:
        """One transaction; the replies after DATA, one per accepted recipient."""
        assert self.command(f"MAIL FROM:<{sender}>").startswith("250")
        accepted = [r for r in recipients if self.command(f"RCPT TO:<{r}>").startswith("250")]
        if not accepted:
            self.command("RSET")
            return []
        assert self.command("DATA").startswith("354")
        body = b"\r\n".join(
            b"." + line if line.startswith(b".") else line for line in message.split(b"\r\n")
        )
        self.sock.sendall(body.rstrip(b"\r\n") + b"\r\n.\r\n")
        return [self.reply() for _ in accepted]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.command("QUIT")
        self.sock.close()


@contextlib.contextmanager
def database_down() -> Iterator[None]:
    """Every new query fails as if the database server were unreachable."""

    def refuse(self: BaseDatabaseWrapper, *args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused (simulated: the database is down)")

    with mock.patch.object(BaseDatabaseWrapper, "_cursor", refuse):
        yield
