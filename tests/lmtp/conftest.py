from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from listkeeper.delivery.ledger import enqueue_post
from listkeeper.lists.models import RouteKind
from listkeeper.lmtp import handler as lmtp_handler
from listkeeper.lmtp.server import protocol
from listkeeper.mail.models import Post, PostStatus
from tests.support.lmtp import LMTPClient
from tests.support.servers import ServerThread


class FakeProcess:
    """Stands in for listkeeper.mail.process where a test is about the LMTP edge only."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes, str]] = []

    def authenticate(self, raw, sender):  # type: ignore[no-untyped-def]
        return None

    def answer_unknown_recipient(self, recipient, raw, sender):  # type: ignore[no-untyped-def]
        self.calls.append(("unknown", recipient, raw, sender))
        return "poster told"

    def handle_post(self, ml, raw, sender, verdict=None):  # type: ignore[no-untyped-def]
        self.calls.append(("post", ml.address, raw, sender))
        post = Post.objects.create(
            mailing_list=ml, sender=sender, raw=raw, status=PostStatus.ACCEPTED
        )
        enqueue_post(post, raw, ml.suffixed(RouteKind.BOUNCES))
        return post

    def handle_request(self, ml, raw, sender):  # type: ignore[no-untyped-def]
        self.calls.append(("request", ml.address, raw, sender))
        return "help sent"

    def forward_to_owners(self, ml, raw, sender):  # type: ignore[no-untyped-def]
        self.calls.append(("owner", ml.address, raw, sender))
        return "forwarded to 1 owner"


@pytest.fixture
def fake_process(monkeypatch) -> FakeProcess:
    fake = FakeProcess()
    monkeypatch.setattr(lmtp_handler, "_process", lambda: fake)
    return fake


@pytest.fixture
def lmtp_server() -> Iterator[SimpleNamespace]:
    handler = lmtp_handler.LMTPHandler()
    server = ServerThread(lambda: protocol(handler)).start()
    clients: list[LMTPClient] = []

    def connect() -> LMTPClient:
        clients.append(LMTPClient(server.host, server.port))
        return clients[-1]

    yield SimpleNamespace(port=server.port, connect=connect)
    for c in clients:
        c.close()
    server.stop()
    handler.shutdown()
