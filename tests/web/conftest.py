from __future__ import annotations

import pytest
from django.test import Client

from listkeeper.lists import services
from listkeeper.lists.models import Role
from tests.support.accounts import make_user

DOMAIN = "lists.example.org"


@pytest.fixture(autouse=True)
def _inline_imports(settings):
    # Bulk imports run inline so they see the test's transaction.
    settings.BULK_IMPORT_THREADS = False


@pytest.fixture
def admin_user(db):
    return make_user("root@example.org", admin=True)


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def alpha(db):
    return services.create_list("alpha", DOMAIN, actor="test", display_name="Alpha")


@pytest.fixture
def beta(db):
    return services.create_list("beta", DOMAIN, actor="test", display_name="Beta")


@pytest.fixture
def owner_user(alpha):
    """Owns alpha, not beta."""
    user = make_user("owner@example.org")
    services.subscribe(alpha, user.email, actor="test", role=Role.OWNER)
    return user


@pytest.fixture
def owner_client(owner_user):
    client = Client()
    client.force_login(owner_user)
    return client


@pytest.fixture
def moderator_client(alpha):
    user = make_user("mod@example.org")
    services.subscribe(alpha, user.email, actor="test", role=Role.MODERATOR)
    client = Client()
    client.force_login(user)
    return client
