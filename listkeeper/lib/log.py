"""One line per event, with the post's Message-ID and list on every mail-path line.

Mail-path code logs through `mail_event()` or a bound `MailLog`:

    log = MailLog(message_id=msg["Message-ID"], mailing_list=mlist)
    log.info("accepted", recipients=120)

Each line names the event and carries `message_id` and `list`, so one post can be
followed from LMTP to the hand-off with `grep`. With LOG_FORMAT=json the fields
become keys of one JSON object per line (JsonFormatter below); with the default
text format they are appended as logfmt (`key=value`).

Never pass message bodies or credentials: values are truncated, bytes are
replaced by their length, and fields whose names look like secrets are dropped.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

MAIL_LOGGER = "listkeeper.mail"

# Parts of field names (split on "_") that must never reach a log line, whoever
# passes them: credentials, tokens that act on a member's behalf, message content.
_SECRET_PARTS = frozenset(
    "pass password passwd secret token key apikey auth authorization credential"
    " credentials cookie session body raw content payload".split()
)
# Message-IDs and subjects are attacker-controlled: keep lines short and single.
_MAX_VALUE = 300

# Signed tokens in our URL paths act on a member's behalf (unsubscribe, confirm,
# manage): a log line shows the path without them.
_TOKEN_PATH = re.compile(r"/(u|confirm|manage)/[^/?\s'\"]+")


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(r"/\1/[token]", text)


# Attributes every LogRecord has; anything else on a record was passed in `extra`.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


def clean(value: Any) -> Any:
    """A value safe for one log line: no bytes, no newlines, bounded length."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    text = redact(str(value)).replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > _MAX_VALUE:
        text = text[:_MAX_VALUE] + "..."
    return text


def clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: clean(value) for name, value in fields.items() if not is_secret_name(name)}


def is_secret_name(name: str) -> bool:
    return any(part in _SECRET_PARTS for part in re.split(r"[_\W]+", name.lower()))


def _logfmt_value(value: Any) -> str:
    text = "" if value is None else str(value)
    if text == "" or any(c in text for c in ' "=\\'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def logfmt(fields: dict[str, Any]) -> str:
    return " ".join(f"{name}={_logfmt_value(value)}" for name, value in fields.items())


def _list_name(mailing_list: Any) -> str:
    if mailing_list is None:
        return ""
    address = getattr(mailing_list, "address", None)
    return str(address if address is not None else mailing_list)


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\n[ \t].*)*)", re.I | re.M)


def message_id_of(raw: bytes) -> str:
    """The Message-ID header of a raw message, without parsing the rest (for logs)."""
    head = raw[:65536].replace(b"\r\n", b"\n")
    end = head.find(b"\n\n")
    found = _MESSAGE_ID.search(head if end < 0 else head[:end])
    if not found:
        return ""
    return " ".join(found.group(1).decode("ascii", "replace").split())


def mail_event(
    event: str,
    *,
    message_id: str | None,
    mailing_list: Any,
    level: int = logging.INFO,
    logger: logging.Logger | None = None,
    exc_info: bool = False,
    **fields: Any,
) -> None:
    """Log one mail-path event; `mailing_list` is a MailingList or its address."""
    data = {
        "event": event,
        "message_id": clean(message_id or ""),
        "list": clean(_list_name(mailing_list)),
        **clean_fields(fields),
    }
    (logger or logging.getLogger(MAIL_LOGGER)).log(
        level, "%s", logfmt(data), extra={"fields": data}, exc_info=exc_info
    )


class MailLog:
    """A logger bound to one message: every line carries its Message-ID and list."""

    def __init__(
        self,
        *,
        message_id: str | None,
        mailing_list: Any,
        logger: logging.Logger | None = None,
        **context: Any,
    ) -> None:
        self.message_id = message_id
        self.mailing_list = mailing_list
        self.logger = logger
        self.context = context

    def log(self, level: int, event: str, **fields: Any) -> None:
        mail_event(
            event,
            message_id=self.message_id,
            mailing_list=self.mailing_list,
            level=level,
            logger=self.logger,
            **{**self.context, **fields},
        )

    def debug(self, event: str, **fields: Any) -> None:
        self.log(logging.DEBUG, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log(logging.INFO, event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log(logging.WARNING, event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log(logging.ERROR, event, **fields)


class RedactTokens(logging.Filter):
    """On the console handler: no signed link reaches a log line (django.request
    logs the path of every 404 and 400, which for /u/TOKEN/ is the token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json), for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        else:
            data["message"] = clean(record.getMessage())
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRS and name != "fields" and not name.startswith("_"):
                if not is_secret_name(name):
                    data.setdefault(name, clean(value))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)
