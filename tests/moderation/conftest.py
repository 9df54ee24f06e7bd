from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import Role
from tests.support.accounts import make_user
from tests.support.mail import mail_into_the_ledger  # noqa: F401 (autouse fixture)


@pytest.fixture
def moderator(community):
    user = make_user("mod@example.com")
    services.subscribe(community, "mod@example.com", actor="test", role=Role.MODERATOR)
    return user


@pytest.fixture
def members(community):
    """Three regular members who receive approved posts."""
    for n in range(3):
        services.subscribe(community, f"member{n}@example.com", actor="test")
    return community
