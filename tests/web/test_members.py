"""A list's members and a member's lists, through the web interface."""

from __future__ import annotations

from django.urls import reverse

from listkeeper.lib.addresses import Address
from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Member, Role, Status, Subscription
from tests.support.html import attrs, parse, table_rows, text, texts


def emails_on(body: str) -> list[str]:
    """The members' addresses as the table shows them, in order."""
    return texts(body, "td", cls="primary")


def fill(ml, n: int) -> None:
    services.bulk_subscribe(
        ml, [Address(f"user{i:03d}@example.org", f"User {i:03d}") for i in range(n)], actor="test"
    )


def test_it_shows_fifty_members_a_page_and_the_last_page_too(admin_client, alpha):
    fill(alpha, 120)
    url = reverse("list_members", args=[alpha.id])
    first = admin_client.get(url).content.decode()
    assert emails_on(first) == [f"user{i:03d}@example.org" for i in range(50)]
    assert "Page 1 of 3" in first and "Showing 1–50 of 120" in first
    last = admin_client.get(url + "?page=3").content.decode()
    assert emails_on(last) == [f"user{i:03d}@example.org" for i in range(100, 120)]
    newest = admin_client.get(url + "?sort=-email&page=3").content.decode()
    assert emails_on(newest) == [f"user{i:03d}@example.org" for i in range(19, -1, -1)]


def test_it_searches_by_address_or_name_and_filters_by_status_and_role(admin_client, alpha):
    fill(alpha, 30)
    services.subscribe(alpha, "Zed Owner <zed@example.net>", actor="test", role=Role.OWNER)
    left = Subscription.objects.get(member__key="user007@example.org")
    services.unsubscribe(left, actor="test")
    url = reverse("list_members", args=[alpha.id])
    assert emails_on(admin_client.get(url, {"q": "USER01"}).content.decode()) == [
        f"user{i:03d}@example.org" for i in range(10, 20)
    ]
    assert emails_on(admin_client.get(url, {"q": "zed own"}).content.decode()) == [
        "zed@example.net"
    ]
    assert emails_on(admin_client.get(url, {"role": "owner"}).content.decode()) == [
        "zed@example.net"
    ]
    assert emails_on(admin_client.get(url, {"status": "unsubscribed"}).content.decode()) == [
        "user007@example.org"
    ]
    assert "No member matches" in admin_client.get(url, {"q": "nobody"}).content.decode()


def test_it_adds_a_member_and_says_so_when_they_are_already_one(admin_client, alpha):
    url = reverse("list_member_add", args=[alpha.id])
    response = admin_client.post(
        url, {"address": "Ann Example <Ann@Example.org>", "role": "member"}, follow=True
    )
    assert "Added Ann@example.org to alpha@lists.example.org" in response.content.decode()
    sub = Subscription.objects.get(mailing_list=alpha, member__key="ann@example.org")
    assert sub.member.name == "Ann Example"
    response = admin_client.post(url, {"address": "ann@example.org", "role": "member"}, follow=True)
    assert response.status_code == 200
    assert "already a member of alpha@lists.example.org" in response.content.decode()
    assert Subscription.objects.filter(mailing_list=alpha).count() == 1


def test_it_readds_a_member_who_had_left(admin_client, alpha):
    sub = services.subscribe(alpha, "ann@example.org", actor="test").subscription
    services.unsubscribe(sub, actor="test")
    response = admin_client.post(
        reverse("list_member_add", args=[alpha.id]),
        {"address": "ann@example.org", "role": "member"},
        follow=True,
    )
    assert "a member again" in response.content.decode()
    sub.refresh_from_db()
    assert sub.status == Status.ACTIVE


def test_it_explains_an_invalid_address(admin_client, alpha):
    response = admin_client.post(
        reverse("list_member_add", args=[alpha.id]), {"address": "ann@@example", "role": "member"}
    )
    assert response.status_code == 200
    assert "ann@@example" in response.content.decode()
    assert not Subscription.objects.exists()


def test_it_removes_and_changes_a_selection(admin_client, alpha):
    fill(alpha, 5)
    subs = {s.member.key: s for s in Subscription.objects.select_related("member")}
    url = reverse("list_member_action", args=[alpha.id])
    back = reverse("list_members", args=[alpha.id]) + "?q=user"
    response = admin_client.post(
        url,
        {
            "action": "remove",
            "selected": [subs["user000@example.org"].id, subs["user001@example.org"].id],
            "next": back,
            "confirmed": "yes",
        },
    )
    assert response["Location"] == back
    assert set(Subscription.objects.values_list("member__key", flat=True)) == {
        "user002@example.org",
        "user003@example.org",
        "user004@example.org",
    }
    for chosen, key in [
        ("role:moderator", "user002@example.org"),
        ("delivery:nomail", "user003@example.org"),
        ("unsubscribe", "user004@example.org"),
    ]:
        admin_client.post(url, {"action": chosen, "selected": [subs[key].id], "confirmed": "yes"})
    assert Subscription.objects.get(id=subs["user002@example.org"].id).role == Role.MODERATOR
    assert Subscription.objects.get(id=subs["user003@example.org"].id).delivery == "nomail"
    assert Subscription.objects.get(id=subs["user004@example.org"].id).status == Status.UNSUBSCRIBED
    assert AuditEntry.objects.filter(action="remove", actor="root@example.org").count() == 2


def test_it_preselects_no_action(admin_client, alpha):
    fill(alpha, 2)
    body = admin_client.get(reverse("list_members", args=[alpha.id])).content.decode()
    (select,) = [e for e in parse(body).iter("select") if e.attrs.get("name") == "action"]
    options = [(o.attrs["value"], "selected" in o.attrs) for o in select.iter("option")]
    assert options[0] == ("", True)
    assert [value for value, chosen in options if chosen] == [""]
    response = admin_client.post(
        reverse("list_member_action", args=[alpha.id]),
        {"selected": list(Subscription.objects.values_list("id", flat=True))},
        follow=True,
    )
    assert "Choose what to do with the selected members" in response.content.decode()
    assert Subscription.objects.filter(mailing_list=alpha, status=Status.ACTIVE).count() == 2


def test_it_confirms_a_removal_naming_the_count_and_the_list(admin_client, alpha):
    fill(alpha, 3)
    ids = list(Subscription.objects.order_by("member_key").values_list("id", flat=True))[:2]
    url = reverse("list_member_action", args=[alpha.id])
    page = admin_client.post(url, {"action": "remove", "selected": ids})
    assert page.status_code == 200
    assert text(page.content, id="confirm-heading") == (
        "Remove from the list: 2 members of alpha@lists.example.org?"
    )
    assert text(page.content, id="confirm-members") == (
        "user000@example.org (User 000) user001@example.org (User 001)"
    )
    assert Subscription.objects.filter(mailing_list=alpha).count() == 3
    # The confirmation page's own form carries the same choice.
    fields = {
        a["name"]: a["value"]
        for a in attrs(page.content, "input", type="hidden")
        if a["name"] in ("action", "confirmed")
    }
    assert fields == {"action": "remove", "confirmed": "yes"}
    admin_client.post(url, {"action": "remove", "selected": ids, "confirmed": "yes"})
    assert Subscription.objects.filter(mailing_list=alpha).count() == 1


def test_it_applies_an_action_to_all_matching_members_on_every_page(admin_client, alpha, beta):
    fill(alpha, 120)
    fill(beta, 3)
    services.subscribe(alpha, "Zed <zed@example.net>", actor="test")
    url = reverse("list_member_action", args=[alpha.id])
    chosen = {"action": "delivery:nomail", "scope": "matching", "q": "user"}
    page = admin_client.post(url, chosen)
    assert text(page.content, id="confirm-heading") == (
        "Delivery: no mail: 120 members of alpha@lists.example.org?"
    )
    admin_client.post(url, {**chosen, "confirmed": "yes"})
    nomail = Subscription.objects.filter(delivery="nomail")
    assert nomail.filter(mailing_list=alpha).count() == 120
    assert nomail.count() == 120  # not zed, not beta's members


def test_it_asks_for_a_selection(admin_client, alpha):
    response = admin_client.post(
        reverse("list_member_action", args=[alpha.id]), {"action": "remove"}, follow=True
    )
    assert "Tick at least one member" in response.content.decode()


def test_it_shows_a_member_on_every_list_and_adds_and_removes_there(admin_client, alpha, beta):
    sub = services.subscribe(alpha, "ann@example.org", actor="test").subscription
    url = reverse("member", args=[sub.member_id])
    admin_client.post(
        reverse("member_join", args=[sub.member_id]), {"list": beta.id, "role": "member"}
    )
    body = admin_client.get(url).content.decode()
    assert "alpha@lists.example.org" in body and "beta@lists.example.org" in body
    beta_sub = Subscription.objects.get(mailing_list=beta, member=sub.member)
    admin_client.post(
        reverse("member_subscription", args=[sub.member_id, beta_sub.id]),
        {"role": "moderator", "delivery": "nomail", "status": "active"},
    )
    beta_sub.refresh_from_db()
    assert (beta_sub.role, beta_sub.delivery) == ("moderator", "nomail")
    admin_client.post(reverse("member_subscription_remove", args=[sub.member_id, beta_sub.id]))
    assert not Subscription.objects.filter(id=beta_sub.id).exists()
    assert Subscription.objects.filter(id=sub.id).exists()


def test_it_renames_and_changes_the_address_merging_into_an_existing_member(
    admin_client, alpha, beta
):
    ann = services.subscribe(alpha, "ann@example.org", actor="test").subscription.member
    other = services.subscribe(beta, "ann.new@example.org", actor="test").subscription.member
    admin_client.post(reverse("member_rename", args=[ann.id]), {"name": "Ann Example"})
    ann.refresh_from_db()
    assert ann.name == "Ann Example"
    response = admin_client.post(
        reverse("member_address", args=[ann.id]), {"address": "Ann.New@example.org"}
    )
    assert response["Location"] == reverse("member", args=[other.id])
    assert not Member.objects.filter(id=ann.id).exists()
    lists = set(
        Subscription.objects.filter(member=other).values_list("mailing_list__local_part", flat=True)
    )
    assert lists == {"alpha", "beta"}


def test_it_changes_an_address_to_a_new_one(admin_client, alpha):
    ann = services.subscribe(alpha, "ann@example.org", actor="test").subscription.member
    response = admin_client.post(
        reverse("member_address", args=[ann.id]), {"address": "not valid"}, follow=True
    )
    assert "not valid" in response.content.decode()
    admin_client.post(reverse("member_address", args=[ann.id]), {"address": "ann@example.net"})
    ann.refresh_from_db()
    assert ann.email == "ann@example.net"


def test_it_erases_a_person_after_confirmation(admin_client, alpha, beta):
    ann = services.subscribe(alpha, "ann@example.org", actor="test").subscription.member
    services.subscribe(beta, "ann@example.org", actor="test")
    page = admin_client.get(reverse("member_erase", args=[ann.id])).content.decode()
    assert "alpha@lists.example.org" in page and "beta@lists.example.org" in page
    admin_client.post(reverse("member_erase", args=[ann.id]))
    assert not Member.objects.filter(key="ann@example.org").exists()
    assert not AuditEntry.objects.filter(details__icontains="ann@example.org").exists()


def test_it_lets_an_owner_change_a_person_only_when_all_their_lists_are_the_owners(
    owner_client, alpha, beta
):
    ann = services.subscribe(alpha, "ann@example.org", actor="test").subscription.member
    services.subscribe(beta, "ann@example.org", actor="test")
    body = owner_client.get(reverse("member", args=[ann.id])).content.decode()
    assert "beta@lists.example.org" not in body
    assert "Also on 1 list you do not manage" in body
    owner_client.post(reverse("member_erase", args=[ann.id]))
    owner_client.post(reverse("member_address", args=[ann.id]), {"address": "x@example.org"})
    ann.refresh_from_db()
    assert ann.email == "ann@example.org"
    solo = services.subscribe(alpha, "solo@example.org", actor="test").subscription.member
    owner_client.post(reverse("member_address", args=[solo.id]), {"address": "solo@example.net"})
    solo.refresh_from_db()
    assert solo.email == "solo@example.net"


def test_it_searches_all_members(admin_client, alpha, beta):
    services.subscribe(alpha, "ann@example.org", actor="test")
    services.subscribe(beta, "ann@example.org", actor="test")
    services.subscribe(beta, "bob@example.org", actor="test")
    body = admin_client.get(reverse("members"), {"q": "ann"}).content.decode()
    assert emails_on(body) == ["ann@example.org"]
    assert table_rows(body) == [["ann@example.org", "", "2"]]


def test_it_lists_a_broad_search_in_order_and_says_when_more_match(
    admin_client, alpha, monkeypatch
):
    from listkeeper.web.views import members as members_view

    fill(alpha, 30)
    monkeypatch.setattr(members_view, "SEARCH_CAP", 10)
    url = reverse("list_members", args=[alpha.id])
    body = admin_client.get(url, {"q": "user0", "sort": "-email"}).content.decode()
    assert emails_on(body) == [f"user{i:03d}@example.org" for i in range(29, 19, -1)]
    assert "more match: narrow the search" in body
    narrow = admin_client.get(url, {"q": "user00", "sort": "-email"}).content.decode()
    assert emails_on(narrow) == [f"user{i:03d}@example.org" for i in range(9, -1, -1)]
    assert "more match" not in narrow
