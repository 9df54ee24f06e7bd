"""A stand-in for the SES HTTP API, spoken to by real boto3 through `endpoint_url`.

It answers the two calls Listkeeper makes, in the wire formats SES uses:
- SES v2 `GetAccount` (REST-JSON): `GET /v2/email/account`, a JSON body with
  `SendQuota` {Max24HourSend, MaxSendRate, SentLast24Hours} and the account flags;
  errors as a status plus `x-amzn-ErrorType` and `{"message": ...}`.
- classic SES `GetSendQuota` (query protocol): `POST /` with
  `Action=GetSendQuota&Version=2010-12-01`, an XML `GetSendQuotaResponse`;
  errors as an XML `ErrorResponse`.

Every request must carry a SigV4 `Authorization` header whose credential names
the stand-in's access key id, its region and the `ses` service, like SES's
check of the key (the signature itself is not recomputed). `deny` names the
calls that answer AccessDenied, as an IAM policy without them would.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass
class SESAPIStub:
    access_key_id: str = "AKIASTANDIN00000000"
    region: str = "eu-west-2"
    max_24h_send: float = 50000.0
    max_send_rate: float = 14.0
    sent_last_24h: float = 0.0
    # What the SMTP side has taken since, counted like SES does (e.g. a sink's messages).
    also_sent: Callable[[], int] = lambda: 0
    deny: set[str] = field(default_factory=set)  # "GetAccount", "GetSendQuota"
    calls: list[str] = field(default_factory=list)  # what was asked, in order

    def start(self) -> SESAPIStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/v2/email/account":
                    self._json(404, {"message": "not found"}, "NotFoundException")
                    return
                denied = stub._check(self, "GetAccount")
                if denied:
                    self._json(denied[0], {"message": denied[2]}, denied[1])
                    return
                self._json(
                    200,
                    {
                        "DedicatedIpAutoWarmupEnabled": False,
                        "EnforcementStatus": "HEALTHY",
                        "ProductionAccessEnabled": True,
                        "SendQuota": {
                            "Max24HourSend": stub.max_24h_send,
                            "MaxSendRate": stub.max_send_rate,
                            "SentLast24Hours": stub.sent_last_24h + stub.also_sent(),
                        },
                        "SendingEnabled": True,
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                action = form.get("Action", [""])[0]
                if action != "GetSendQuota" or form.get("Version") != ["2010-12-01"]:
                    self._xml_error(400, "InvalidAction", f"unknown action {action!r}")
                    return
                denied = stub._check(self, "GetSendQuota")
                if denied:
                    self._xml_error(denied[0], denied[1].replace("Exception", ""), denied[2])
                    return
                body = (
                    '<GetSendQuotaResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
                    "<GetSendQuotaResult>"
                    f"<SentLast24Hours>{stub.sent_last_24h + stub.also_sent()}</SentLast24Hours>"
                    f"<Max24HourSend>{stub.max_24h_send}</Max24HourSend>"
                    f"<MaxSendRate>{stub.max_send_rate}</MaxSendRate>"
                    "</GetSendQuotaResult>"
                    f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                    "</GetSendQuotaResponse>"
                )
                self._send(200, body.encode(), "text/xml")

            def _json(self, status: int, body: dict[str, object], error: str = "") -> None:
                headers = {"x-amzn-RequestId": str(uuid.uuid4())}
                if error:
                    headers["x-amzn-ErrorType"] = f"{error}:http://internal.amazon.com/coral/"
                self._send(status, json.dumps(body).encode(), "application/json", headers)

            def _xml_error(self, status: int, code: str, message: str) -> None:
                body = (
                    '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
                    f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                    f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
                )
                self._send(status, body.encode(), "text/xml")

            def _send(
                self,
                status: int,
                body: bytes,
                content_type: str,
                headers: dict[str, str] | None = None,
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _check(self, request: BaseHTTPRequestHandler, action: str) -> tuple[int, str, str] | None:
        """(status, error code, message) when SES would refuse the call, else None."""
        self.calls.append(action)
        auth = request.headers.get("Authorization", "")
        match = CREDENTIAL.search(auth)
        if not auth.startswith("AWS4-HMAC-SHA256 ") or match is None:
            return 403, "MissingAuthenticationTokenException", "Missing Authentication Token"
        key, region, service = match.groups()
        if key != self.access_key_id:
            return (
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        if region != self.region or service != "ses":
            return 403, "SignatureDoesNotMatchException", f"wrong scope {region}/{service}"
        if action in self.deny:
            return (
                403,
                "AccessDeniedException",
                f"User: arn:aws:iam::123456789012:user/listkeeper is not authorized to "
                f"perform: ses:{action}",
            )
        return None
