from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import Role
from tests.support.accounts import make_user
from tests.support.api import ApiClient, client_for
from tests.support.mail import mail_into_the_ledger  # noqa: F401 (autouse fixture)


@pytest.fixture
def owner(community):
    user = make_user("owner@example.com")
    services.subscribe(community, "owner@example.com", actor="test", role=Role.OWNER)
    return user


@pytest.fixture
def api(owner) -> ApiClient:
    """Signed in as the owner of `community`."""
    return client_for(owner)


@pytest.fixture
def admin_api(db) -> ApiClient:
    return client_for(make_user("root@example.com", admin=True))


@pytest.fixture
def other_list(db):
    ml = services.create_list("private", "lists.example.org", actor="test")
    services.subscribe(ml, "someone@example.net", actor="test")
    return ml
