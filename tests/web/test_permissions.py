"""Every view checks who is asking: another owner's list is a 404, not a hint."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from listkeeper.lists import services
from listkeeper.lists.models import Role, Status, Subscription
from listkeeper.mail.models import Post, PostStatus
from listkeeper.web.models import BulkImport


@pytest.fixture
def beta_member(beta):
    return services.subscribe(beta, "bob@example.org", actor="test").subscription


def list_urls(ml_id: int) -> list[str]:
    return [
        reverse("list_members", args=[ml_id]),
        reverse("list_edit", args=[ml_id]),
        reverse("list_member_add", args=[ml_id]),
        reverse("list_export", args=[ml_id]),
    ]


def test_it_gives_an_owner_404_for_another_owners_list(owner_client, alpha, beta, beta_member):
    for url in list_urls(beta.id):
        assert owner_client.get(url).status_code == 404, url
    for url in list_urls(alpha.id):
        assert owner_client.get(url).status_code == 200, url


def test_it_gives_an_owner_404_for_another_owners_members(owner_client, beta_member):
    member_id = beta_member.member_id
    assert owner_client.get(reverse("member", args=[member_id])).status_code == 404
    response = owner_client.post(
        reverse("member_subscription_remove", args=[member_id, beta_member.id])
    )
    assert response.status_code == 404
    assert Subscription.objects.filter(id=beta_member.id).exists()


def test_it_refuses_every_change_to_another_owners_list(owner_client, beta, beta_member):
    posts = [
        (
            reverse("list_edit", args=[beta.id]),
            {"display_name": "Mine now", "posting_policy": "open"},
        ),
        (
            reverse("list_member_add", args=[beta.id]),
            {"address": "eve@example.org", "role": "member"},
        ),
        (
            reverse("list_member_action", args=[beta.id]),
            {"action": "remove", "selected": [beta_member.id], "confirmed": "yes"},
        ),
        (reverse("list_delete", args=[beta.id]), {"confirm": beta.address}),
    ]
    for url, data in posts:
        assert owner_client.post(url, data).status_code == 404, url
    beta.refresh_from_db()
    assert beta.display_name == "Beta"
    assert Subscription.objects.filter(mailing_list=beta).count() == 1


def test_it_ignores_another_lists_subscriptions_in_a_selection(owner_client, alpha, beta_member):
    response = owner_client.post(
        reverse("list_member_action", args=[alpha.id]),
        {"action": "remove", "selected": [beta_member.id], "confirmed": "yes"},
    )
    assert response.status_code == 302
    assert Subscription.objects.filter(id=beta_member.id).exists()


def test_it_does_not_let_an_owner_join_a_member_to_another_list(owner_client, alpha, beta):
    sub = services.subscribe(alpha, "carol@example.org", actor="test").subscription
    response = owner_client.post(reverse("member_join", args=[sub.member_id]), {"list": beta.id})
    assert response.status_code == 404
    assert not Subscription.objects.filter(mailing_list=beta, member=sub.member).exists()


def test_it_stops_a_moderator_from_changing_members(moderator_client, alpha):
    sub = services.subscribe(alpha, "dave@example.org", actor="test").subscription
    assert moderator_client.get(reverse("list_members", args=[alpha.id])).status_code == 404
    response = moderator_client.post(
        reverse("list_member_action", args=[alpha.id]),
        {"action": "remove", "selected": [sub.id], "confirmed": "yes"},
    )
    assert response.status_code == 404
    response = moderator_client.post(
        reverse("list_member_add", args=[alpha.id]),
        {"address": "eve@example.org", "role": "member"},
    )
    assert response.status_code == 404
    assert Subscription.objects.get(id=sub.id).status == Status.ACTIVE
    assert not Subscription.objects.filter(member__key="eve@example.org").exists()


def test_it_shows_a_moderator_the_held_count_on_the_dashboard(moderator_client, alpha):
    Post.objects.create(
        mailing_list=alpha, sender="x@example.net", subject="Hi", raw=b"", status=PostStatus.HELD
    )
    body = moderator_client.get(reverse("dashboard")).content.decode()
    held_links = re.findall(rf'<a href="/lists/{alpha.id}/held/"><span[^>]*>([^<]+)</span>', body)
    assert held_links == ["1 waiting"]
    # ...but no link to the members page they may not see.
    assert reverse("list_members", args=[alpha.id]) + '"' not in body


def test_it_sends_a_signed_out_visitor_to_sign_in(alpha):
    client = Client()
    for url in [
        reverse("dashboard"),
        reverse("lists"),
        reverse("members"),
        reverse("audit"),
        *list_urls(alpha.id),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    response = client.post(
        reverse("list_member_add", args=[alpha.id]), {"address": "x@example.org"}
    )
    assert response.status_code == 302
    assert not Subscription.objects.filter(member__key="x@example.org").exists()


def test_it_keeps_site_pages_from_list_owners(owner_client, alpha):
    for url in [
        reverse("list_create"),
        reverse("users"),
        reverse("user_create"),
        reverse("list_delete", args=[alpha.id]),
    ]:
        assert owner_client.get(url).status_code == 404, url
    response = owner_client.post(reverse("list_create"), {"local_part": "gamma"})
    assert response.status_code == 404


def test_it_keeps_another_owners_bulk_import_private(owner_client, admin_user, beta):
    job = BulkImport.objects.create(
        created_by=admin_user, actor="root", source_name="x", state="preview"
    )
    job.lists.set([beta])
    assert owner_client.get(reverse("bulk", args=[job.id])).status_code == 404
    assert owner_client.post(reverse("bulk_commit", args=[job.id])).status_code == 404


def test_it_only_offers_an_owner_their_own_lists_for_bulk_add(owner_client, alpha, beta):
    body = owner_client.get(reverse("bulk_new")).content.decode()
    assert "alpha@lists.example.org" in body
    assert "beta@lists.example.org" not in body
    response = owner_client.post(reverse("bulk_new"), {"lists": [beta.id], "text": "x@example.org"})
    assert response.status_code == 200  # the form refuses the list it does not offer
    assert not BulkImport.objects.exists()


def test_it_exports_only_the_owners_lists(owner_client, alpha, beta, beta_member):
    services.subscribe(alpha, "ann@example.org", actor="test")
    body = b"".join(owner_client.get(reverse("members_export")).streaming_content).decode()
    assert "ann@example.org" in body
    assert "bob@example.org" not in body


def test_it_limits_an_owners_audit_log_to_their_lists(owner_client, alpha, beta, beta_member):
    body = owner_client.get(reverse("audit")).content.decode()
    assert "bob@example.org" not in body
    assert "owner@example.org" in body


def test_it_lets_an_owner_make_another_owner(owner_client, alpha):
    sub = services.subscribe(alpha, "second@example.org", actor="test").subscription
    owner_client.post(
        reverse("list_member_action", args=[alpha.id]),
        {"action": "role:owner", "selected": [sub.id], "confirmed": "yes"},
    )
    assert Subscription.objects.get(id=sub.id).role == Role.OWNER
