from __future__ import annotations

import hashlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from listkeeper.api.models import ApiToken
from tests.support.accounts import make_user
from tests.support.api import ApiClient, client_for


def test_it_answers_401_without_a_token(community):
    response = ApiClient(None).get("/lists")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_it_answers_401_for_an_unknown_token(community):
    assert ApiClient("lk_not-a-real-token").get("/lists").status_code == 401


def test_it_answers_401_for_an_inactive_user(owner):
    api = client_for(owner)
    owner.is_active = False
    owner.save()
    assert api.get("/lists").status_code == 401


def test_it_stores_only_the_sha256_of_the_token(owner):
    token, plain = ApiToken.issue(owner)
    assert plain.startswith("lk_")
    stored = ApiToken.objects.get(id=token.id)
    assert stored.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in {stored.key_hash, stored.hint, stored.name}


def test_it_accepts_writes_without_csrf(api, community):
    # The client enforces CSRF checks; a bearer token needs none.
    response = api.patch(f"/lists/{community.id}", {"description": "Hello"})
    assert response.status_code == 200


def test_it_records_the_api_user_as_actor(api, community):
    from listkeeper.lists.models import AuditEntry

    api.post(f"/lists/{community.id}/members", {"address": "new@example.com"})
    entry = AuditEntry.objects.filter(action="subscribe", member__key="new@example.com").get()
    assert entry.actor == "api:owner@example.com"


def test_it_creates_a_working_token_from_the_command(db, capsys):
    make_user("ops@example.com", admin=True)
    call_command("api-token", "create", "OPS@example.com", "--name", "deploy")
    plain = capsys.readouterr().out.strip()
    assert ApiClient(plain).get("/lists").status_code == 200
    assert ApiToken.objects.get().name == "deploy"


def test_it_revokes_a_token_from_the_command(db, capsys):
    user = make_user("ops@example.com")
    token, plain = ApiToken.issue(user)
    call_command("api-token", "list")
    assert token.hint in capsys.readouterr().out
    call_command("api-token", "revoke", token.hint)
    assert ApiClient(plain).get("/lists").status_code == 401


def test_it_names_the_address_when_no_user_has_it(db):
    with pytest.raises(CommandError, match="nobody@example.com"):
        call_command("api-token", "create", "nobody@example.com")


def test_it_serves_the_openapi_schema_without_a_token(db):
    response = ApiClient(None).client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/lists/{list_id}/members" in schema["paths"]
    assert "/api/lists/{list_id}/held/{post_id}/approve" in schema["paths"]
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def test_it_serves_the_docs_page(db):
    response = ApiClient(None).client.get("/api/docs")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
