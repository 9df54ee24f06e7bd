from __future__ import annotations

from listkeeper.lists import services
from listkeeper.lists.models import Member, Role, Status, Subscription


def _subscribe(ml, *addresses, **kw):
    for address in addresses:
        services.subscribe(ml, address, actor="test", **kw)


def test_it_pages_through_members_in_address_order(api, community):
    _subscribe(community, *(f"m{n:02}@example.com" for n in range(12)))
    first = api.get(f"/lists/{community.id}/members", page_size=5).json()
    third = api.get(f"/lists/{community.id}/members", page_size=5, page=3).json()
    assert first["count"] == 13
    assert [i["email"] for i in first["items"]] == [f"m{n:02}@example.com" for n in range(5)]
    assert [i["email"] for i in third["items"]] == [
        "m10@example.com",
        "m11@example.com",
        "owner@example.com",
    ]


def test_it_searches_and_filters_members(api, community):
    _subscribe(community, "Ann Smith <ann@example.com>", "bob@example.com")
    services.subscribe(community, "mod@example.com", actor="test", role=Role.MODERATOR)
    sub = Subscription.objects.get(member__key="bob@example.com")
    services.unsubscribe(sub, actor="test")
    url = f"/lists/{community.id}/members"
    assert [i["email"] for i in api.get(url, q="smith").json()["items"]] == ["ann@example.com"]
    assert [i["email"] for i in api.get(url, status="unsubscribed").json()["items"]] == [
        "bob@example.com"
    ]
    assert [i["email"] for i in api.get(url, role="moderator").json()["items"]] == [
        "mod@example.com"
    ]
    assert api.get(url, role="king").status_code == 422
    assert api.get(url, page_size=5000).status_code == 422


def test_it_adds_a_member_with_201_then_answers_already_with_200(api, community):
    url = f"/lists/{community.id}/members"
    first = api.post(url, {"address": "Carol <Carol@Example.COM>"})
    assert first.status_code == 201
    assert first.json()["outcome"] == "created"
    assert first.json()["subscription"]["email"] == "Carol@example.com"
    assert first.json()["subscription"]["source"] == "api"
    again = api.post(url, {"address": "carol@example.com"})
    assert again.status_code == 200
    assert again.json()["outcome"] == "already"
    assert (
        Subscription.objects.filter(mailing_list=community, member__key="carol@example.com").count()
        == 1
    )


def test_it_reactivates_a_member_who_had_left(api, community):
    _subscribe(community, "dan@example.com")
    services.unsubscribe(Subscription.objects.get(member__key="dan@example.com"), actor="test")
    response = api.post(f"/lists/{community.id}/members", {"address": "dan@example.com"})
    assert response.status_code == 201
    assert response.json()["outcome"] == "reactivated"
    assert response.json()["subscription"]["status"] == "active"


def test_it_names_an_invalid_address(api, community):
    response = api.post(f"/lists/{community.id}/members", {"address": "dan@@example"})
    assert response.status_code == 422
    assert "dan@@example" in response.json()["detail"]
    assert not Member.objects.filter(key__startswith="dan").exists()


def test_it_adds_a_member_with_nomail_delivery(api, community):
    response = api.post(
        f"/lists/{community.id}/members", {"address": "eve@example.com", "delivery": "nomail"}
    )
    assert response.json()["subscription"]["delivery"] == "nomail"


def test_it_changes_role_and_delivery(api, community):
    _subscribe(community, "fay@example.com")
    response = api.patch(
        f"/lists/{community.id}/members/FAY@example.com",
        {"role": "moderator", "delivery": "nomail"},
    )
    assert response.status_code == 200
    sub = Subscription.objects.get(member__key="fay@example.com")
    assert (sub.role, sub.delivery) == ("moderator", "nomail")
    assert (
        api.patch(f"/lists/{community.id}/members/fay@example.com", {"role": "boss"}).status_code
        == 422
    )


def test_it_removes_a_member_and_404s_for_an_unknown_one(api, community):
    _subscribe(community, "gus@example.com")
    assert api.delete(f"/lists/{community.id}/members/gus@example.com").status_code == 204
    assert not Subscription.objects.filter(member__key="gus@example.com").exists()
    response = api.delete(f"/lists/{community.id}/members/gus@example.com")
    assert response.status_code == 404
    assert "gus@example.com" in response.json()["detail"]


def test_it_bulk_adds_keeping_valid_rows_and_reporting_the_rest(api, community):
    _subscribe(community, "old@example.com")
    rows = [
        "new1@example.com",
        {"address": "new2@example.com", "name": "New Two"},
        "not an address",
        "OLD@example.com",
        "new1@EXAMPLE.com",
        "",
    ]
    response = api.post(f"/lists/{community.id}/members/bulk", rows)
    assert response.status_code == 200, response.content
    data = response.json()
    assert [r["outcome"] for r in data["rows"]] == [
        "added",
        "added",
        "invalid",
        "already",
        "duplicate",
        "invalid",
    ]
    assert (data["added"], data["already"], data["duplicate"], data["invalid"]) == (2, 1, 1, 2)
    assert "not an address" in data["rows"][2]["error"]
    assert data["rows"][4]["error"] == "same address as row 0"
    active = set(
        Subscription.objects.filter(mailing_list=community, status=Status.ACTIVE).values_list(
            "member__key", flat=True
        )
    )
    assert active == {
        "owner@example.com",
        "old@example.com",
        "new1@example.com",
        "new2@example.com",
    }
    assert Member.objects.get(key="new2@example.com").name == "New Two"


def test_it_refuses_a_bulk_body_that_is_not_a_list(api, community):
    response = api.post(f"/lists/{community.id}/members/bulk", {"address": "a@example.com"})
    assert response.status_code == 422


def test_it_shows_a_member_with_only_the_callers_lists(api, community, other_list):
    _subscribe(community, "someone@example.net")
    response = api.get("/members/someone@example.net")
    assert response.status_code == 200
    assert [m["list_address"] for m in response.json()["lists"]] == ["community@lists.example.org"]


def test_it_hides_members_of_other_lists(api, other_list):
    response = api.get("/members/someone@example.net")
    assert response.status_code == 404
    assert api.delete("/members/someone@example.net").status_code == 404
    assert Member.objects.filter(key="someone@example.net").exists()


def test_it_changes_a_members_address(api, community):
    _subscribe(community, "hal@old.example")
    response = api.patch("/members/hal@old.example", {"email": "hal@new.example"})
    assert response.status_code == 200
    assert response.json()["email"] == "hal@new.example"
    assert Subscription.objects.filter(
        mailing_list=community, member__key="hal@new.example"
    ).exists()


def test_it_merges_into_the_member_who_has_the_new_address(api, community):
    _subscribe(community, "ida@old.example")
    services.get_or_create_member("ida@new.example", actor="test")
    response = api.patch("/members/ida@old.example", {"email": "ida@new.example"})
    assert response.status_code == 200
    assert not Member.objects.filter(key="ida@old.example").exists()
    assert Subscription.objects.get(member__key="ida@new.example").mailing_list == community


def test_it_names_an_invalid_new_address(api, community):
    _subscribe(community, "jo@example.com")
    response = api.patch("/members/jo@example.com", {"email": "jo at example"})
    assert response.status_code == 422
    assert "jo at example" in response.json()["detail"]


def test_it_refuses_to_change_a_member_on_lists_the_caller_does_not_manage(
    api, community, other_list
):
    _subscribe(community, "someone@example.net")
    response = api.patch("/members/someone@example.net", {"email": "x@example.net"})
    assert response.status_code == 403
    assert api.delete("/members/someone@example.net").status_code == 403
    assert Member.objects.filter(key="someone@example.net").exists()


def test_it_erases_a_member(api, community):
    _subscribe(community, "kim@example.com")
    assert api.delete("/members/kim@example.com").status_code == 204
    assert not Member.objects.filter(key="kim@example.com").exists()


def test_a_site_admin_sees_every_list_of_a_member(admin_api, community, other_list):
    _subscribe(community, "someone@example.net")
    response = admin_api.get("/members/someone@example.net")
    assert len(response.json()["lists"]) == 2


def test_it_refuses_a_banned_address_with_the_reason(api, community):
    services.add_ban(community, "*@spam.example", actor="test")
    response = api.post(f"/lists/{community.id}/members", {"address": "x@spam.example"})
    assert response.status_code == 422
    assert "x@spam.example is banned" in response.json()["detail"]
    rows = api.post(
        f"/lists/{community.id}/members/bulk", ["ok@example.com", "y@spam.example"]
    ).json()
    assert [r["outcome"] for r in rows["rows"]] == ["added", "banned"]
    assert rows["banned"] == 1
    assert "banned" in rows["rows"][1]["error"]
    assert not Subscription.objects.filter(member__key__endswith="@spam.example").exists()


def test_a_switch_to_the_digest_waits_for_the_next_issue(api, community):
    _subscribe(community, "gus@example.com")
    response = api.patch(f"/lists/{community.id}/members/gus@example.com", {"delivery": "digest"})
    assert response.status_code == 200
    assert (response.json()["delivery"], response.json()["delivery_next"]) == ("regular", "digest")
    got = api.get(f"/lists/{community.id}/members/gus@example.com").json()
    assert got["delivery_next"] == "digest"
    services.update_list(community, actor="test", digests_enabled=False)
    refused = api.patch(f"/lists/{community.id}/members/gus@example.com", {"delivery": "digest"})
    assert refused.status_code == 422
    assert "sends no digests" in refused.json()["detail"]
