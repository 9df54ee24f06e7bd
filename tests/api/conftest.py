from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from listkeeper.api.models import ApiToken
from listkeeper.lists import services
from listkeeper.lists.models import Role


class ApiClient:
    """The Django test client speaking JSON with a bearer token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _call(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        fn = getattr(self.client, method)
        # No body at all, as `curl -X POST` sends, when there is nothing to say.
        data = "" if body is None else json.dumps(body)
        kw.update(data=data, content_type="application/json")
        return fn(f"/api{path}", headers=self.headers, **kw)

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api{path}", params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("post", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self._call("patch", path, body)

    def delete(self, path: str) -> Any:
        return self._call("delete", path)


@pytest.fixture(autouse=True)
def _mail_into_the_ledger(settings):
    # Django's test set-up swaps in the locmem backend; we want the real path.
    settings.EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"


def notice_text(delivery) -> str:
    """The text part of a message we queued ourselves."""
    from email import message_from_bytes, policy

    msg = message_from_bytes(bytes(delivery.message), policy=policy.default)
    return msg.get_body(("plain",)).get_content()


def make_user(email: str, *, superuser: bool = False) -> Any:
    User = get_user_model()
    if superuser:
        return User.objects.create_superuser(email, email, "pw-not-used")
    return User.objects.create_user(email, email, "pw-not-used")


def client_for(user: Any) -> ApiClient:
    _, plain = ApiToken.issue(user, name="tests")
    return ApiClient(plain)


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
    return client_for(make_user("root@example.com", superuser=True))


@pytest.fixture
def other_list(db):
    ml = services.create_list("private", "lists.example.org", actor="test")
    services.subscribe(ml, "someone@example.net", actor="test")
    return ml
