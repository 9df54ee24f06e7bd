"""The SMTP hand-off to Postfix's reinjection listener.

One `Connection` is one persistent SMTP session. Each transaction is written in
two whole writes: MAIL, every RCPT and DATA together (RFC 2920 pipelining), then
the message and its end-of-data marker together. TCP_NODELAY is set, so the
small last segment is not held back waiting for a delayed ACK (Nagle: about
40 ms per message on loopback otherwise).

A recipient counts as handed off only on the 250 after its transaction's data;
the caller records that. Anything else is a temporary or permanent refusal per
recipient (`Outcome`). A lost connection leaves the transaction without an
answer: the caller sends it again unless the hand-off policy marked it
(`claims.record`, `lost`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

TIMEOUT = 120.0  # Postfix's smtpd answers within its own timeouts; this is a backstop.
# The EHLO name of a session that carries only copies for addresses outside
# the list domains. Postfix's reinjection listener sends such a session's mail
# straight to the relay without resolving each recipient (docs/postfix.md,
# "The worker's direct sessions"); any other name is resolved as usual.
DIRECT_HELO = "listkeeper-direct"
ROUTED_HELO = "listkeeper.localhost"


class SMTPError(Exception):
    """The session is unusable (connection lost, garbled reply, timeout)."""


@dataclass
class Reply:
    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500 or self.code < 200

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


@dataclass
class Outcome:
    """Per recipient (in order): None when handed off, else the refusal."""

    refused: list[Reply | None] = field(default_factory=list)

    @property
    def all_sent(self) -> bool:
        return all(r is None for r in self.refused)


@dataclass
class Transaction:
    sender: str
    recipients: list[str]
    data: bytes  # CRLF text; dot-stuffed (no final ".") unless the connection uses BDAT
    tag: Any = None  # the caller's


def _final(rcpts: list[Reply], final: Reply) -> Outcome:
    """Per recipient: handed off only if its RCPT and the end of data both said yes."""
    return Outcome(
        [None if (r.ok and final.code == 250) else (r if not r.ok else final) for r in rcpts]
    )


class Connection:
    def __init__(self, host: str, port: int, helo: str = ROUTED_HELO) -> None:
        self.host, self.port, self.helo = host, port, helo
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.pipelining = False
        self.chunking = False
        self._buffer = b""

    @property
    def bdat(self) -> bool:
        """Whether send_many uses BDAT: then Transaction.data must NOT be dot-stuffed."""
        return self.pipelining and self.chunking

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        try:
            self._reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), TIMEOUT
            )
            self._writer = writer
            self._buffer = b""
        except (TimeoutError, OSError) as exc:
            raise SMTPError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            async with asyncio.timeout(TIMEOUT):
                greeting = await self._reply()
                if greeting.code != 220:
                    raise SMTPError(f"{self.host}:{self.port} greeted with {greeting}")
                self._write(b"EHLO %s\r\n" % self.helo.encode())
                ehlo, lines = await self._reply_lines()
            if ehlo.code != 250:
                raise SMTPError(f"{self.host}:{self.port} refused EHLO: {ehlo}")
        except SMTPError:
            self.abort()
            raise
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.abort()
            raise SMTPError(f"{self.host}:{self.port} broke during the greeting: {exc!r}") from None
        keywords = {line.split()[0].upper() for line in lines[1:] if line.strip()}
        self.pipelining = "PIPELINING" in keywords
        self.chunking = "CHUNKING" in keywords

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        try:
            if not writer.is_closing():
                writer.write(b"QUIT\r\n")
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 5)
        except (TimeoutError, OSError):
            pass

    def abort(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.transport.abort()

    async def send(self, sender: str, recipients: Sequence[str], data: bytes) -> Outcome:
        """One transaction. `data` is CRLF text, dot-stuffed unless `self.bdat`.

        Raises SMTPError when the session breaks; the caller retries elsewhere.
        """
        outcomes: list[Outcome] = []
        await self.send_many(
            [Transaction(sender, list(recipients), data)], lambda t, o: outcomes.append(o)
        )
        return outcomes[0]

    async def send_many(
        self, transactions: Sequence[Transaction], done: Callable[[Transaction, Outcome], None]
    ) -> None:
        """Several transactions back to back; `done` is called as each one's result is known.

        With CHUNKING (Postfix offers it) all of them go out in one write:
        MAIL, RCPT..., BDAT size LAST and the message, for each (RFC 3030; the
        server reads and discards a chunk it refuses, so a refusal cannot
        desynchronise the session). With PIPELINING only, each transaction's
        data goes out in the same write as the next one's MAIL/RCPT/DATA (RFC
        2920). On SMTPError, the transactions `done` was not called for did
        not complete.
        """
        if not self.connected:
            raise SMTPError("not connected")
        try:
            if self.bdat:
                await self._send_bdat(transactions, done)
                return
            if not self.pipelining:
                for txn in transactions:
                    async with asyncio.timeout(TIMEOUT):
                        done(txn, await self._lockstep(txn))
                return
            waiting: Transaction | None = None  # got its 354; its data goes with the next write
            accepted: list[Reply] = []
            for txn in transactions:
                out = [waiting.data, b".\r\n"] if waiting is not None else []
                out.append(b"MAIL FROM:<%s>\r\n" % txn.sender.encode())
                out += [b"RCPT TO:<%s>\r\n" % r.encode() for r in txn.recipients]
                out.append(b"DATA\r\n")
                async with asyncio.timeout(TIMEOUT):
                    self._write(b"".join(out))
                    if waiting is not None:
                        done(waiting, _final(accepted, await self._reply()))
                        waiting = None
                    replies = [await self._reply() for _ in range(len(txn.recipients) + 2)]
                mail, rcpts, data_reply = replies[0], replies[1:-1], replies[-1]
                if data_reply.code == 354:
                    waiting, accepted = txn, rcpts
                else:
                    # No data phase; the session is ready for the next MAIL.
                    reason = mail if not mail.ok else data_reply
                    done(txn, Outcome([r if not r.ok else reason for r in rcpts]))
            if waiting is not None:
                async with asyncio.timeout(TIMEOUT):
                    self._write(waiting.data + b".\r\n")
                    done(waiting, _final(accepted, await self._reply()))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            self.abort()
            raise SMTPError(f"session with {self.host}:{self.port} broke: {exc!r}") from None

    async def _send_bdat(
        self, transactions: Sequence[Transaction], done: Callable[[Transaction, Outcome], None]
    ) -> None:
        out: list[bytes] = []
        for txn in transactions:
            out.append(b"MAIL FROM:<%s>\r\n" % txn.sender.encode())
            out += [b"RCPT TO:<%s>\r\n" % r.encode() for r in txn.recipients]
            out += [b"BDAT %d LAST\r\n" % len(txn.data), txn.data]
        self._write(b"".join(out))
        for txn in transactions:
            async with asyncio.timeout(TIMEOUT):
                mail, *rcpts, bdat = await self._replies(len(txn.recipients) + 2)
            reason = mail if not mail.ok else bdat
            done(
                txn,
                Outcome(
                    [
                        None if (r.ok and bdat.code == 250) else (r if not r.ok else reason)
                        for r in rcpts
                    ]
                ),
            )

    async def _lockstep(self, txn: Transaction) -> Outcome:
        """One transaction, one command at a time, for a server without PIPELINING."""
        self._write(b"MAIL FROM:<%s>\r\n" % txn.sender.encode())
        mail = await self._reply()
        rcpts = []
        for r in txn.recipients:
            self._write(b"RCPT TO:<%s>\r\n" % r.encode())
            rcpts.append(await self._reply())
        self._write(b"DATA\r\n")
        data_reply = await self._reply()
        if data_reply.code != 354:
            reason = mail if not mail.ok else data_reply
            return Outcome([r if not r.ok else reason for r in rcpts])
        self._write(txn.data + b".\r\n")
        return _final(rcpts, await self._reply())

    def _write(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    async def _reply(self) -> Reply:
        reply, _ = await self._reply_lines()
        return reply

    async def _replies(self, count: int) -> list[Reply]:
        return [(await self._reply_lines())[0] for _ in range(count)]

    async def _line(self) -> bytes:
        # Replies to a pipelined batch arrive together: read them in one go and
        # split here, rather than one await per line.
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            assert self._reader is not None
            chunk = await self._reader.read(65536)
            if not chunk:
                raise asyncio.IncompleteReadError(self._buffer, None)
            self._buffer += chunk

    async def _reply_lines(self) -> tuple[Reply, list[str]]:
        assert self._writer is not None
        if self._writer.transport.get_write_buffer_size():
            await self._writer.drain()
        lines: list[str] = []
        while True:
            line = (await self._line()).decode("utf-8", "replace").rstrip("\r\n")
            if len(line) < 3 or not line[:3].isdigit():
                raise ValueError(f"garbled SMTP reply {line!r}")
            lines.append(line[4:])
            if line[3:4] != "-":
                return Reply(int(line[:3]), " ".join(lines)), lines
