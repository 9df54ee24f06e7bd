from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import ServerThread, SinkHandler, smtp_sink


@pytest.fixture
def sink() -> Iterator[tuple[SinkHandler, ServerThread]]:
    handler = SinkHandler()
    server = smtp_sink(handler)
    yield handler, server
    server.stop()
