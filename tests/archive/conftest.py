from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Role

MEMBERS = ["alice@example.com", "bob@example.org"]


@pytest.fixture
def ml(community) -> MailingList:
    for address in MEMBERS:
        services.subscribe(community, address, actor="test")
    services.subscribe(community, "owner@example.org", actor="test", role=Role.OWNER)
    return community
