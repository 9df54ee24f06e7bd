from __future__ import annotations

from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, MailingList, Role, Subscription
from tests.support.accounts import make_user
from tests.support.api import client_for


def test_it_lists_only_the_callers_lists(api, community, other_list):
    response = api.get("/lists")
    assert response.status_code == 200
    assert [item["address"] for item in response.json()] == ["community@lists.example.org"]
    item = response.json()[0]
    assert item["active_members"] == 1  # the owner; not just the caller's own row counted
    assert item["can_manage"] is True


def test_it_counts_all_active_members(api, community):
    for n in range(3):
        services.subscribe(community, f"m{n}@example.com", actor="test")
    assert api.get("/lists").json()[0]["active_members"] == 4
    assert api.get(f"/lists/{community.id}").json()["active_members"] == 4


def test_it_answers_404_for_another_owners_list(api, other_list):
    for response in (
        api.get(f"/lists/{other_list.id}"),
        api.patch(f"/lists/{other_list.id}", {"description": "mine now"}),
        api.get(f"/lists/{other_list.id}/members"),
        api.post(f"/lists/{other_list.id}/members", {"address": "x@example.com"}),
        api.delete(f"/lists/{other_list.id}/members/someone@example.net"),
        api.get(f"/lists/{other_list.id}/held"),
    ):
        assert response.status_code == 404, response.content
        assert "detail" in response.json()
    other_list.refresh_from_db()
    assert other_list.description == ""
    assert other_list.subscriptions.count() == 1


def test_it_lets_a_moderator_read_but_not_change(community):
    user = make_user("mod@example.com")
    services.subscribe(community, "mod@example.com", actor="test", role=Role.MODERATOR)
    api = client_for(user)
    assert api.get(f"/lists/{community.id}").json()["can_manage"] is False
    response = api.patch(f"/lists/{community.id}", {"description": "x"})
    assert response.status_code == 403
    assert "community@lists.example.org" in response.json()["detail"]


def test_it_updates_settings_through_the_service(api, community):
    response = api.patch(
        f"/lists/{community.id}", {"posting_policy": "moderated", "subject_tag": "[c]"}
    )
    assert response.status_code == 200
    assert response.json()["posting_policy"] == "moderated"
    community.refresh_from_db()
    assert community.posting_policy == "moderated"
    entry = AuditEntry.objects.get(action="list.update")
    assert entry.actor == "api:owner@example.com"
    assert entry.details["changes"]["posting_policy"] == ["members", "moderated"]


def test_it_refuses_an_unknown_setting_value_with_the_choices(api, community):
    response = api.patch(f"/lists/{community.id}", {"posting_policy": "anarchy"})
    assert response.status_code == 422
    assert "'open'" in str(response.json()["detail"])
    community.refresh_from_db()
    assert community.posting_policy == "members"


def test_it_creates_a_list_with_owners_as_site_admin(admin_api):
    response = admin_api.post(
        "/lists",
        {"local_part": "news", "display_name": "News", "owners": ["Ann <ann@example.com>"]},
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["address"] == "news@lists.example.org"
    sub = Subscription.objects.get(mailing_list_id=data["id"])
    assert (sub.member.email, sub.role, sub.source) == ("ann@example.com", "owner", "api")


def test_it_explains_a_clashing_list_name(admin_api, community):
    response = admin_api.post("/lists", {"local_part": "community-request"})
    assert response.status_code == 422
    assert "community-request@lists.example.org" in response.json()["detail"]


def test_it_names_an_invalid_owner_address_and_creates_nothing(admin_api):
    response = admin_api.post("/lists", {"local_part": "news", "owners": ["not-an-address"]})
    assert response.status_code == 422
    assert "not-an-address" in response.json()["detail"]
    assert not MailingList.objects.filter(local_part="news").exists()


def test_it_lets_only_site_admins_create_and_delete(api, admin_api, community):
    assert api.post("/lists", {"local_part": "news"}).status_code == 403
    assert api.delete(f"/lists/{community.id}").status_code == 403
    assert MailingList.objects.filter(id=community.id).exists()
    assert admin_api.delete(f"/lists/{community.id}").status_code == 204
    assert not MailingList.objects.filter(id=community.id).exists()
