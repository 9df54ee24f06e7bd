from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest
from django.core.cache import cache

from listkeeper.delivery.models import Delivery
from tests.support.mail import mail_into_the_ledger  # noqa: F401 (autouse fixture)


@pytest.fixture(autouse=True)
def _fresh_throttles(db):
    # Throttle counters live in the cache (maybe a DB table); each test starts with none.
    cache.clear()
    yield
    cache.clear()


class Outbox:
    """Mail we queued in the delivery ledger, oldest first, parsed."""

    def all(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(bytes(d.message), policy=policy.default)
            for d in Delivery.objects.order_by("id")
        ]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.all() if address.lower() in str(m["To"]).lower()]

    def last(self) -> EmailMessage:
        messages = self.all()
        assert messages, "no mail was queued"
        return messages[-1]

    def __len__(self) -> int:
        return Delivery.objects.count()


@pytest.fixture
def outbox(db) -> Outbox:
    return Outbox()
