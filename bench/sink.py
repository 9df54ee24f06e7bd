"""A multi-process SMTP sink for the benchmarks: plain, or STARTTLS + AUTH like SES.

Postfix's smtp-sink speaks no TLS and keeps no record of recipients. This
one runs `procs` servers on one port (SO_REUSEPORT: the kernel spreads
connections over them, so no one Python process and its GIL caps the rate):
aiosmtpd with STARTTLS + AUTH for `tls`, else a minimal plain SMTP protocol
with CHUNKING (`_PlainSMTP`); it counts recipients in shared memory and, at
the end, says which recipients arrived more than once.
Each process's CPU time is reported so a run can tell whether the sink was
the bottleneck.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import os
import resource
import ssl
import time
from pathlib import Path
from typing import Any

USER, PASSWORD = "AKIABENCHEXAMPLE", "bench-password"


class _PlainSMTP(asyncio.Protocol):
    """A plain SMTP sink as small as one can be (no TLS, no AUTH): PIPELINING, CHUNKING
    (BDAT) and DATA. Postfix's reinjection listener offered CHUNKING until the
    hand-off policy (it now offers none), so a worker straight to this sink
    sends as it did to Postfix before that.

    aiosmtpd costs about 0.4 ms of CPU a message, more than the worker it
    measures, and offers no CHUNKING; this costs a fraction of that, so a run
    straight to the sink measures the workers, not the sink.
    """

    def __init__(self, seen: collections.Counter[bytes], counter: Any) -> None:
        self.seen, self.counter = seen, counter
        self.buf = b""
        self.rcpts: list[bytes] = []
        self.mode = "command"  # or "data" (until CRLF.CRLF) or "bdat" (self.need bytes)
        self.need = 0
        self.last = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def _delivered(self) -> bytes:
        for rcpt in self.rcpts:
            self.seen[rcpt] += 1
        with self.counter.get_lock():
            self.counter.value += len(self.rcpts)
        self.rcpts = []
        return b"250 2.0.0 Ok\r\n"

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out: list[bytes] = []
        while self.buf:
            if self.mode == "bdat":
                taken = min(self.need, len(self.buf))
                self.buf, self.need = self.buf[taken:], self.need - taken
                if self.need:
                    break
                self.mode = "command"
                out.append(self._delivered() if self.last else b"250 2.0.0 chunk\r\n")
                continue
            if self.mode == "data":
                if self.buf.startswith(b".\r\n"):
                    end = 0
                else:
                    end = self.buf.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    end += 2
                self.buf = self.buf[end + 3 :]
                self.mode = "command"
                out.append(self._delivered())
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                break
            line, self.buf = self.buf[:end], self.buf[end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                out.append(b"250-sink\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT":
                self.rcpts.append(line[line.find(b"<") + 1 : line.rfind(b">")])
                out.append(b"250 2.1.5 Ok\r\n")
            elif verb == b"BDAT":
                words = line.split()
                self.need, self.last = int(words[1]), words[-1].upper() == b"LAST"
                self.mode = "bdat"
            elif verb == b"DATA":
                self.mode = "data"
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb in (b"MAIL", b"RSET"):
                self.rcpts = []
                out.append(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                out.append(b"221 2.0.0 Bye\r\n")
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            else:  # HELO, NOOP
                out.append(b"250 2.0.0 Ok\r\n")
        if out:
            self.transport.write(b"".join(out))


def _serve(
    port: int,
    tls: tuple[str, str] | None,
    counter: Any,
    stop: Any,
    out: str,
) -> None:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    seen: collections.Counter[str] = collections.Counter()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            for rcpt in envelope.rcpt_tos:
                seen[rcpt] += 1
            with counter.get_lock():
                counter.value += len(envelope.rcpt_tos)
            return "250 2.0.0 Ok"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and data.login.decode() == USER
        if ok and data.password.decode() == PASSWORD:
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    ctx = None
    if tls is not None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*tls)

    plain_seen: collections.Counter[bytes] = collections.Counter()

    def factory() -> Any:
        if ctx is None:
            return _PlainSMTP(plain_seen, counter)
        return SMTP(
            Handler(),
            tls_context=ctx,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticate,
        )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, "127.0.0.1", port, reuse_port=True)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        server.close()

    import logging

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(main())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(out, "w") as fh:
        fh.write(f"cpu {usage.ru_utime + usage.ru_stime}\n")
        for rcpt, n in seen.items():
            fh.write(f"{rcpt} {n}\n")
        for raw, n in plain_seen.items():
            fh.write(f"{raw.decode()} {n}\n")


class Sink:
    """`Sink(port, procs, tls=(cert, key))`; `.count`, `.wait(n)`, `.stop()` -> (repeats, cpu s)."""

    def __init__(
        self, port: int, procs: int, directory: Path, tls: tuple[str, str] | None = None
    ) -> None:
        ctx = multiprocessing.get_context("fork")
        self.counter = ctx.Value("q", 0)
        self._stop = ctx.Event()
        self._outs = [str(directory / f"sink-{port}-{i}.txt") for i in range(procs)]
        self._procs = [
            ctx.Process(target=_serve, args=(port, tls, self.counter, self._stop, out), daemon=True)
            for out in self._outs
        ]
        for p in self._procs:
            p.start()
        self.started = time.monotonic()
        deadline = time.monotonic() + 30
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)

    @property
    def count(self) -> int:
        return int(self.counter.value)

    def wait(self, n: int, timeout: float, alive: Any = None) -> bool:
        deadline = time.monotonic() + timeout
        while self.count < n:
            if time.monotonic() > deadline or (alive is not None and not alive()):
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> tuple[int, float]:
        """Stop the processes; (copies that arrived more than once, CPU seconds used)."""
        self._stop.set()
        for p in self._procs:
            p.join(30)
        # A repeat may arrive at another process (another connection): merge first.
        seen: collections.Counter[str] = collections.Counter()
        cpu = 0.0
        for out in self._outs:
            if not os.path.exists(out):
                continue
            for line in Path(out).read_text().splitlines():
                key, value = line.split()
                if key == "cpu":
                    cpu += float(value)
                else:
                    seen[key] += int(value)
        return sum(n - 1 for n in seen.values()), cpu
