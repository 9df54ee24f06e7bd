"""A stand-in for Amazon SES's SMTP interface, for tests (docs: ../../shared/SES.md).

Behaves like SES where it shapes Listkeeper:
- STARTTLS before AUTH, AUTH (PLAIN or LOGIN, configurable credentials)
  before MAIL; the certificate comes from a test CA (TestCA) made at fixture
  time, so Postfix can verify it with RELAY_TLS_CA_FILE.
- 554 "Message rejected: Email address is not verified" when the envelope
  sender, From or Sender is outside the verified domains (checked after DATA).
- 554 for more than `max_recipients` (50) recipients in one message.
- 454 "Throttling failure: Maximum sending rate exceeded." when a message
  would take the recipients accepted in the last `rate_window` seconds (1)
  over `max_rate` (0 = no limit, the default). SES counts recipients, at the
  moment it accepts a message, over a sliding second; so does this.
- `arrivals` records, per recipient of every accepted copy, the moment it was
  accepted (time.monotonic()), so a test can measure the rate SES saw and its
  busiest second (`busiest_window`, `arrival_rate`).
- 550 at RCPT for addresses in `reject_recipients` (permanent failures).
Accepted messages are kept in `messages` with their envelope. stop() and
start() again serve on the same port (a relay that goes away and comes back).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOT_VERIFIED = "554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-2: {}"
TOO_MANY = "554 Transaction failed: Recipient count exceeds {}."
THROTTLED = "454 Throttling failure: Maximum sending rate exceeded."
REJECTED_RCPT = "550 5.1.1 Mailbox does not exist: {}"


class TestCA:
    """A throw-away CA and a server certificate it signed, written as PEM files."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, hostnames: Iterable[str] = ("localhost",)) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Listkeeper test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names = list(hostnames)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.cert_file = directory / "server.pem"
        self.key_file = directory / "server.key"
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.key_file.chmod(0o600)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    user: str

    @property
    def message(self) -> Any:
        return message_from_bytes(self.data, policy=policy.SMTP)


@dataclass
class SESStub:
    ca: TestCA
    host: str = "127.0.0.1"
    port: int = 0
    server_name: str = "localhost"  # what clients connect to; the certificate's name
    username: str = "AKIAIOSFODNN7EXAMPLE"
    password: str = "ses-smtp-password"
    verified_domains: set[str] = field(default_factory=lambda: {"lists.example.org"})
    max_recipients: int = 50
    max_rate: float = 0.0  # recipients per rate_window seconds; 0 = unlimited
    rate_window: float = 1.0  # tests that must not depend on timing make it long
    reject_recipients: set[str] = field(default_factory=set)
    reply_delay: float = 0.0  # seconds between taking a message and answering 250
    messages: list[Received] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # every non-250 reply after DATA
    arrivals: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, recipient)
    throttled_at: list[float] = field(default_factory=list)  # when each 454 was given
    _controller: Controller | None = None
    _sent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def relay(self) -> str:
        """RELAY_HOST for Postfix: the certificate's name and our port."""
        return f"{self.server_name}:{self.port}"

    def start(self) -> None:
        if self._controller is not None:
            return
        if not self.port:
            self.port = free_port(self.host)
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname=f"email-smtp.stub.{self.server_name}",
            tls_context=self.ca.server_context(),
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
            data_size_limit=40 * 1024 * 1024,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.replies.clear()
            self.arrivals.clear()
            self.throttled_at.clear()
            self._sent.clear()

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        """Wait until at least `count` messages arrived; return them (maybe fewer on timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)

    @property
    def throttled(self) -> int:
        """How many transactions were refused with 454 for the send rate."""
        return len(self.throttled_at)

    def per_second(self) -> str:
        """Accepted/throttled per second since the first arrival, for a failing test's message."""
        if not self.arrivals:
            return "nothing arrived"
        start = min(t for t, _ in self.arrivals)
        accepted = Counter(int(t - start) for t, _ in self.arrivals)
        refused = Counter(int(t - start) for t in self.throttled_at)
        return " ".join(
            f"{s}:{accepted[s]}" + (f"/454x{refused[s]}" if refused[s] else "")
            for s in range(max(accepted | refused) + 1)
        )

    def busiest_window(self, seconds: float = 1.0) -> int:
        """The most recipients accepted in any window [t, t + seconds)."""
        return busiest_window([t for t, _ in self.arrivals], seconds)

    def arrival_rate(self) -> float:
        """Recipients per second from the first accepted copy to the last."""
        times = sorted(t for t, _ in self.arrivals)
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            mechanism in ("PLAIN", "LOGIN")
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if not ok:
            return AuthResult(success=False, handled=False)  # aiosmtpd then replies 535
        return AuthResult(success=True, auth_data=auth_data.login.decode())

    def _verified(self, address: str) -> bool:
        return address.rpartition("@")[2].lower() in {d.lower() for d in self.verified_domains}

    def _check(self, envelope: Envelope) -> str | None:
        if len(envelope.rcpt_tos) > self.max_recipients:
            return TOO_MANY.format(self.max_recipients)
        msg = message_from_bytes(envelope.original_content or b"", policy=policy.compat32)
        identities = [envelope.mail_from or ""]
        for header in ("From", "Sender"):
            identities += [addr for _, addr in getaddresses(msg.get_all(header, []))]
        bad = [i or "<>" for i in identities if not self._verified(i)]
        if bad:
            return NOT_VERIFIED.format(", ".join(bad))
        with self._lock:
            now = time.monotonic()
            if self.max_rate:
                while self._sent and now - self._sent[0] >= self.rate_window:
                    self._sent.popleft()
                if len(self._sent) + len(envelope.rcpt_tos) > self.max_rate:
                    self.throttled_at.append(now)
                    return THROTTLED
                self._sent.extend([now] * len(envelope.rcpt_tos))
            self.arrivals.extend((now, rcpt) for rcpt in envelope.rcpt_tos)
        return None


class _Handler:
    def __init__(self, stub: SESStub) -> None:
        self.stub = stub

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in {a.lower() for a in self.stub.reject_recipients}:
            return REJECTED_RCPT.format(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        problem = self.stub._check(envelope)
        if problem:
            self.stub.replies.append(problem)
            return problem
        self.stub.messages.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=envelope.original_content or b"",
                tls=session.ssl is not None,
                user=str(session.auth_data or ""),
            )
        )
        if self.stub.reply_delay:
            await asyncio.sleep(self.stub.reply_delay)
        return "250 Ok 0102018c-stub-message-id"


def busiest_window(times: Iterable[float], seconds: float = 1.0) -> int:
    """The most events in any half-open window [t, t + seconds)."""
    ordered = sorted(times)
    worst, j = 0, 0
    for i, t in enumerate(ordered):
        while t - ordered[j] >= seconds:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
