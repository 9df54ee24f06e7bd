from __future__ import annotations

import json
import logging

from listkeeper.lib.log import JsonFormatter, MailLog, mail_event


class Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, Capture]:
    logger = logging.getLogger(f"test.log.{id(formatter)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = Capture(formatter)
    logger.handlers = [handler]
    return logger, handler


def test_it_puts_message_id_and_list_on_every_json_line() -> None:
    logger, out = capture(JsonFormatter())
    log = MailLog(
        message_id="<abc@example.com>", mailing_list="community@lists.example.org", logger=logger
    )

    log.info("accepted", recipients=3)
    log.warning("handoff_failed", recipient="a@example.org", reply="451 4.3.0 try later")

    lines = [json.loads(line) for line in out.lines]
    assert [line["event"] for line in lines] == ["accepted", "handoff_failed"]
    assert all(line["message_id"] == "<abc@example.com>" for line in lines)
    assert all(line["list"] == "community@lists.example.org" for line in lines)
    assert lines[0]["recipients"] == 3 and lines[1]["level"] == "WARNING"


def test_it_keeps_secrets_and_bodies_out() -> None:
    logger, out = capture(JsonFormatter())

    mail_event(
        "relay_login",
        message_id="<x@y>",
        mailing_list="l@d",
        logger=logger,
        ses_password="hunter2",
        unsubscribe_token="tok",
        raw=b"Subject: hi\r\n\r\nsecret body",
        body="secret body",
        size=b"12345",
    )

    line = out.lines[0]
    assert "hunter2" not in line and "tok" not in line and "secret body" not in line
    assert json.loads(line)["size"] == "<5 bytes>"


def test_it_writes_one_line_per_event_even_with_hostile_values() -> None:
    logger, out = capture(logging.Formatter("%(message)s"))

    mail_event(
        "accepted",
        message_id="<a@b>\r\nevent=forged",
        mailing_list="l@d",
        logger=logger,
        subject="x" * 5000,
    )

    assert len(out.lines) == 1 and "\n" not in out.lines[0]
    assert out.lines[0].startswith("event=accepted message_id=")
    assert len(out.lines[0]) < 1000


def test_it_formats_ordinary_records_as_json_too() -> None:
    logger, out = capture(JsonFormatter())

    logger.error("worker stopped: %s", "SIGTERM", extra={"worker": "w1"})

    line = json.loads(out.lines[0])
    assert line["message"] == "worker stopped: SIGTERM"
    assert line["worker"] == "w1" and line["level"] == "ERROR"


def test_it_finds_the_message_id_in_the_header_only() -> None:
    from listkeeper.lib.log import message_id_of

    assert message_id_of(b"From: a\r\nMessage-ID:\r\n <folded@x>\r\n\r\nbody") == "<folded@x>"
    assert message_id_of(b"From: a\r\n\r\nMessage-ID: <in-body@x>\r\n") == ""
    assert message_id_of(b"message-id: <lower@y>\n\nbody") == "<lower@y>"
