from __future__ import annotations

import pytest

from listkeeper.lists.models import MailingList
from tests.support.mail import mail_into_the_ledger  # noqa: F401 (autouse fixture)


@pytest.fixture
def ml(community) -> MailingList:
    return community
