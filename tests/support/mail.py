"""Mail samples and what we queued: helpers for tests of the mail path."""

from __future__ import annotations

import email
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from listkeeper.delivery.models import Delivery
from listkeeper.lists.models import MailingList
from listkeeper.mail import headers as h
from listkeeper.mail import pipeline
from listkeeper.mail.context import InFlight, parse_message

DATA = Path(__file__).resolve().parent.parent / "data"


EML_FILES = sorted(p.name for p in DATA.glob("*.eml") if p.name != "garbage.eml")


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse_out(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def make_ctx(ml: MailingList, raw: bytes | str, sender: str = "alice@example.com") -> InFlight:
    data = load(raw) if isinstance(raw, str) and raw.endswith(".eml") else raw
    if isinstance(data, str):
        data = data.encode()
    return parse_message(ml, data, sender)


def run_pipeline(ml: MailingList, raw: bytes | str, sender: str = "alice@example.com") -> bytes:
    return pipeline.run(make_ctx(ml, raw, sender))


def headers_of(data: bytes) -> h.HeaderBlock:
    return h.split(data)[0]


@dataclass
class Sent:
    to: list[str]
    envelope_from: str
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


def outbox() -> list[Sent]:
    """Every message we queued ourselves (notices, confirmations, forwards), oldest first."""
    result = []
    for d in Delivery.objects.filter(post__isnull=True).order_by("id"):
        to = list(d.recipients.order_by("id").values_list("email", flat=True))
        result.append(Sent(to, d.envelope_from, parse_out(bytes(d.message))))
    return result


@pytest.fixture(autouse=True)
def mail_into_the_ledger(settings):
    """Mail we send ourselves goes where it goes in production: into the delivery ledger.

    Django's test set-up swaps in the locmem backend. Imported by the conftest
    of each directory whose tests read what we queued.
    """
    settings.EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"
