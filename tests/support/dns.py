"""A real DNS server for the tests, on 127.0.0.1 (UDP and TCP on one free port).

It serves TXT records the tests put in it (`_dmarc`, DKIM keys, SPF) and
answers NXDOMAIN for every other name, so no test ever asks the internet.
Names in `servfail` get SERVFAIL; names in `silent` get no answer at all
(the resolver times out).

    zone = TestDNS().start()
    zone.txt("_dmarc.example.com", "v=DMARC1; p=reject")
"""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSError, DNSHandler, DNSServer


class _Silent(DNSError):
    """Raised by the resolver for a name that must get no answer."""


class _Zone(BaseResolver):
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = defaultdict(list)
        self.servfail: set[str] = set()
        self.silent: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            self.queries.append((name, qtype))
            records = list(self.records.get(name, []))
        if name in self.silent:
            raise _Silent(f"no answer for {name}")
        reply = request.reply()
        if name in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if not records:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if qtype in ("TXT", "ANY"):
            for text in records:
                # A TXT string holds at most 255 bytes; DKIM keys are longer.
                chunks = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        return reply


class _QuietLogger:
    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *args, **kwargs: None


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            tcp.close()
            udp.close()
        return port
    raise RuntimeError("no port free for both UDP and TCP")


class TestDNS:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self) -> None:
        self.zone = _Zone()
        self.port = 0
        self._servers: list[DNSServer] = []

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> TestDNS:
        self.port = _free_port()
        for tcp in (False, True):
            server = DNSServer(
                self.zone, address="127.0.0.1", port=self.port, tcp=tcp, logger=_QuietLogger()
            )
            server.start_thread()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers.clear()

    def txt(self, name: str, *texts: str) -> None:
        """Publish TXT records at `name` (replacing what was there)."""
        self.zone.records[name.rstrip(".").lower()] = list(texts)

    def clear(self) -> None:
        self.zone.records.clear()
        self.zone.servfail.clear()
        self.zone.silent.clear()
        self.zone.queries.clear()
