"""Every page of the owners' interface renders for a site admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from listkeeper.lists import services


@pytest.mark.parametrize(
    "name",
    [
        "dashboard",
        "lists",
        "list_create",
        "members",
        "bulk_new",
        "audit",
        "users",
        "user_create",
        "status",
        "password_change",
    ],
)
def test_it_renders_the_site_pages(admin_client, alpha, name):
    services.subscribe(alpha, "Ann <ann@example.org>", actor="test")
    response = admin_client.get(reverse(name))
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["list_members", "list_edit", "list_delete", "list_member_add"])
def test_it_renders_the_list_pages(admin_client, alpha, name):
    services.subscribe(alpha, "Ann <ann@example.org>", actor="test")
    response = admin_client.get(reverse(name, args=[alpha.id]))
    assert response.status_code == 200
    assert "alpha@lists.example.org" in response.content.decode()


def test_it_renders_the_member_pages(admin_client, alpha):
    sub = services.subscribe(alpha, "Ann <ann@example.org>", actor="test").subscription
    for name in ("member", "member_erase"):
        response = admin_client.get(reverse(name, args=[sub.member_id]))
        assert response.status_code == 200
        assert "ann@example.org" in response.content.decode()
