from __future__ import annotations

import pytest

from listkeeper.lists.models import MailingList


@pytest.fixture(autouse=True)
def ledger_mail(settings):
    # Mail we send ourselves goes where it goes in production: into the delivery ledger.
    settings.EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"


@pytest.fixture
def ml(community) -> MailingList:
    return community
