"""Every LMTP line about a message names its Message-ID and list."""

from __future__ import annotations

import json
import logging

import pytest

from listkeeper.lib.log import JsonFormatter

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = (
    b"From: alice@example.com\r\nTo: community@lists.example.org\r\n"
    b"Message-ID: <lmtp-log-1@example.com>\r\nSubject: Hi\r\n\r\nHello, secret body.\r\n"
)


def lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(r))
        for r in caplog.records
        if r.name == "listkeeper.lmtp.handler"
    ]


def test_it_logs_a_stored_post_with_its_message_id_and_list(
    community, fake_process, lmtp_server, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="listkeeper.lmtp.handler")

    lmtp_server.connect().send("alice@example.com", ["community@lists.example.org"], MESSAGE)

    [line] = lines(caplog)
    assert line["event"] == "lmtp_stored"
    assert line["list"] == "community@lists.example.org"
    assert line["status"] == "accepted"


def test_it_names_the_message_when_it_must_say_try_later(
    community, fake_process, lmtp_server, monkeypatch, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="listkeeper.lmtp.handler")
    monkeypatch.setattr(fake_process, "handle_post", lambda *a: 1 / 0)

    reply = lmtp_server.connect().send(
        "alice@example.com", ["community@lists.example.org"], MESSAGE
    )

    assert reply[0].startswith("451")
    [line] = lines(caplog)
    assert (line["event"], line["level"]) == ("lmtp_failed", "ERROR")
    assert line["message_id"] == "<lmtp-log-1@example.com>"
    assert line["list"] == "community@lists.example.org"
    assert "ZeroDivisionError" in line["exception"]
    assert "secret body" not in json.dumps(line)
