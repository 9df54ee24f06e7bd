from __future__ import annotations

import pytest

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from tests.support.feedback import MEMBERS, make_post


@pytest.fixture
def members(community):
    for address in MEMBERS:
        services.subscribe(community, address, actor="test")
    return community


@pytest.fixture
def delivery(members) -> Delivery:
    return make_post(members)


from tests.support.feedback import fake_sns  # noqa: E402,F401 (a fixture, used by name)
