from __future__ import annotations

import smtplib

from aiosmtpd.smtp import SMTP

from listkeeper.delivery import catcher
from tests.support.servers import ServerThread


def test_it_keeps_each_caught_message_in_the_outbox_and_lists_it(tmp_path) -> None:
    handler = catcher.CatcherHandler(tmp_path / "outbox")
    server = ServerThread(lambda: SMTP(handler, decode_data=False)).start()
    try:
        with smtplib.SMTP("127.0.0.1", server.port) as client:
            client.sendmail(
                "community-bounces+abc@lists.example.org",
                ["bob@example.net"],
                b"From: community@lists.example.org\r\nSubject: Hello there\r\n\r\nHi Bob.\r\n",
            )
    finally:
        server.stop()

    total, messages = catcher.caught(directory=tmp_path / "outbox")
    assert total == 1
    m = messages[0]
    assert (m.sender, m.recipients, m.subject) == (
        "community-bounces+abc@lists.example.org",
        "bob@example.net",
        "Hello there",
    )
    assert (tmp_path / "outbox" / m.name).read_bytes().endswith(b"Hi Bob.\r\n")


def test_it_lists_nothing_before_anything_was_caught(tmp_path) -> None:
    assert catcher.caught(directory=tmp_path / "nothing") == (0, [])
