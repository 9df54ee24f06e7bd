"""The SES stand-in as a container of the compose test stack.

Runs tests/sesstub.py's SESStub (STARTTLS with the test CA, AUTH required,
554 for unverified senders, 454 over the rate) on port 587, and an https
server on 443 that hands out the SNS signing certificate, so the web container
fetches it from "sns.eu-west-2.amazonaws.com" (a network alias of this
container) exactly as it would from SNS.

Everything lives in the directory /ses, shared with the test on the host:
  config.json     credentials, verified domains, rate; read again at every AUTH,
                  so the test can rotate the SES credentials while this runs
  server.pem/.key the certificate for the relay and SNS names, from the test CA
  sns-cert.pem    the SNS signing certificate
  messages.jsonl  one line per accepted message (envelope, Message-ID, data)
  replies.jsonl   one line per refusal after DATA (554, 454, ...)
Runs in the app image (Python 3.11, aiosmtpd, cryptography), not a product image.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, "/stub")
from sesstub import SESStub  # noqa: E402

HERE = Path("/ses")


class Files:
    """The test CA's server certificate, as SESStub wants it (a TestCA made elsewhere)."""

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(HERE / "server.pem", HERE / "server.key")
        return ctx


class Journal(list):  # type: ignore[type-arg]
    """A list that also appends each item to a JSON-lines file, for the test to read."""

    def __init__(self, path: Path, encode: Any) -> None:
        super().__init__()
        self.path = path
        self.encode = encode
        self.lock = threading.Lock()
        path.touch()

    def append(self, item: Any) -> None:
        super().append(item)
        line = json.dumps(self.encode(item)) + "\n"
        with self.lock, self.path.open("a") as fh:
            fh.write(line)


def encode_message(received: Any) -> dict[str, Any]:
    msg = message_from_bytes(received.data, policy=policy.compat32)
    return {
        "mail_from": received.mail_from,
        "rcpt_tos": received.rcpt_tos,
        "message_id": str(msg.get("Message-ID", "")),
        "to": str(msg.get("To", "")),
        "subject": str(msg.get("Subject", "")),
        "user": received.user,
        "tls": received.tls,
        "at": time.time(),
        "data": base64.b64encode(received.data).decode(),
    }


def config() -> dict[str, Any]:
    return json.loads((HERE / "config.json").read_text())


class LiveStub(SESStub):
    def _authenticate(self, server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        # An IAM user may have two access keys at once (credential rotation):
        # "also_accept" lists the other [user, password] pairs that work.
        current = config()
        pairs = [(current["username"], current["password"])]
        pairs += [tuple(p) for p in current.get("also_accept", [])]
        for self.username, self.password in pairs:
            result = super()._authenticate(server, session, envelope, mechanism, auth_data)
            if result.success:
                return result
        return result


class CertificateHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = (HERE / "sns-cert.pem").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-pem-file")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        print("sns-cert:", format % args, flush=True)


def main() -> None:
    settings = config()
    stub = LiveStub(
        ca=Files(),  # type: ignore[arg-type]
        host="0.0.0.0",
        port=587,
        server_name=settings["server_name"],
        username=settings["username"],
        password=settings["password"],
        verified_domains=set(settings["verified_domains"]),
        max_rate=float(settings.get("max_rate", 0)),
        rate_window=float(settings.get("rate_window", 1)),
    )
    stub.messages = Journal(HERE / "messages.jsonl", encode_message)
    stub.replies = Journal(
        HERE / "replies.jsonl", lambda reply: {"reply": reply, "at": time.time()}
    )
    stub.start()

    https = ThreadingHTTPServer(("0.0.0.0", 443), CertificateHandler)
    https.socket = Files().server_context().wrap_socket(https.socket, server_side=True)
    (HERE / "ready").write_text("ready\n")
    print("SES stand-in: SMTP on 587, SNS certificate on 443", flush=True)
    https.serve_forever()


if __name__ == "__main__":
    main()
