"""Every page of the owners' interface renders for a site admin: with its
heading, and without a variable the template could not resolve."""

from __future__ import annotations

import copy

import pytest
from django.urls import reverse

from listkeeper.lists import services
from tests.support.html import headings

# Django writes this where a template names a variable it cannot resolve.
INVALID = "TEMPLATE-ERROR"


@pytest.fixture(autouse=True)
def _mark_invalid_variables(settings):
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["OPTIONS"]["string_if_invalid"] = f"{INVALID}(%s)"
    settings.TEMPLATES = templates


def rendered(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    for marker in (INVALID, "{{", "{%", "Traceback"):
        assert marker not in html, (marker, html[html.find(marker) - 200 : html.find(marker) + 200])
    return html


@pytest.mark.parametrize(
    ("name", "heading"),
    [
        ("dashboard", "Dashboard"),
        ("lists", "Lists"),
        ("list_create", "New list"),
        ("members", "Members"),
        ("bulk_new", "Bulk add"),
        ("audit", "Audit log"),
        ("users", "Users"),
        ("user_create", "New user"),
        ("status", "Status"),
        ("password_change", "Change your password"),
    ],
)
def test_it_renders_the_site_pages(admin_client, alpha, name, heading):
    services.subscribe(alpha, "Ann <ann@example.org>", actor="test")
    html = rendered(admin_client.get(reverse(name)))
    assert headings(html)[0] == heading


@pytest.mark.parametrize(
    "name",
    [
        "list_members",
        "list_edit",
        "list_delete",
        "list_member_add",
        "held_posts",
        "list_bans",
        "list_deliverability",
    ],
)
def test_it_renders_the_list_pages(admin_client, alpha, name):
    services.subscribe(alpha, "Ann <ann@example.org>", actor="test")
    html = rendered(admin_client.get(reverse(name, args=[alpha.id])))
    assert any("alpha" in h.lower() for h in headings(html)), headings(html)


def test_it_renders_the_member_pages(admin_client, alpha):
    sub = services.subscribe(alpha, "Ann <ann@example.org>", actor="test").subscription
    for name in ("member", "member_erase"):
        html = rendered(admin_client.get(reverse(name, args=[sub.member_id])))
        assert any("ann@example.org" in h for h in headings(html)), headings(html)
