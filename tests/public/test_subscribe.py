from __future__ import annotations

import pytest
from django.test import Client

from listkeeper.lists import services
from listkeeper.lists.models import Member, Status, Subscription
from tests.support.html import parse, text
from tests.support.notices import html_of, link_in, text_of

PAGE = "/l/community@lists.example.org/"


def _sub(address: str) -> Subscription | None:
    return Subscription.objects.filter(member__key=address.lower()).first()


def test_it_shows_a_public_list_with_its_description_and_a_form(client: Client, community) -> None:
    services.update_list(community, actor="test", description="Talk about the neighbourhood.")
    response = client.get(PAGE)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Community" in body and "Talk about the neighbourhood." in body
    assert 'name="address"' in body and 'name="name"' in body


def test_it_finds_the_list_whatever_the_case_of_the_address(client: Client, community) -> None:
    assert client.get("/l/Community@Lists.Example.org/").status_code == 200


def test_it_hides_a_hidden_list_and_an_unknown_one(client: Client, community) -> None:
    services.update_list(community, actor="test", public=False)
    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE, {"address": "bob@example.org"}).status_code == 404
    assert client.get("/l/nosuch@lists.example.org/").status_code == 404
    assert Member.objects.count() == 0


def test_it_makes_a_pending_subscription_and_mails_a_confirmation_link(
    client, community, outbox
) -> None:
    response = client.post(PAGE, {"address": "Bob@Example.org", "name": "Bob Builder"})
    assert response.status_code == 200
    assert "Check your mail" in response.content.decode()
    sub = _sub("bob@example.org")
    assert sub is not None and sub.status == Status.PENDING and sub.source == "web"
    assert sub.member.name == "Bob Builder"
    mail = outbox.last()
    assert mail["To"] == "Bob@example.org"
    assert "Confirm your subscription to Community" == mail["Subject"]
    assert "community-owner@lists.example.org" in mail["From"]
    assert "Community" in text_of(mail) and "7 days" in text_of(mail)
    assert link_in(mail, "confirm") in html_of(mail)


def test_it_confirms_only_on_post_and_then_sends_a_welcome(client, community, outbox) -> None:
    client.post(PAGE, {"address": "bob@example.org"})
    confirm = link_in(outbox.last(), "confirm")

    page = client.get(confirm)
    assert page.status_code == 200
    assert "bob@example.org" in page.content.decode()
    assert _sub("bob@example.org").status == Status.PENDING  # GET changes nothing
    assert len(outbox) == 1

    done = client.post(confirm)
    assert done.status_code == 200
    assert "You are subscribed" in done.content.decode()
    assert _sub("bob@example.org").status == Status.ACTIVE
    welcome = outbox.last()
    assert welcome["Subject"] == "Welcome to Community"
    assert link_in(welcome, "u")  # a working unsubscribe link
    assert link_in(welcome, "manage")


def test_it_confirms_twice_without_a_second_welcome(client, community, outbox) -> None:
    client.post(PAGE, {"address": "bob@example.org"})
    confirm = link_in(outbox.last(), "confirm")
    client.post(confirm)
    again = client.post(confirm)
    assert again.status_code == 200
    assert "already subscribed" in again.content.decode()
    assert [m["Subject"] for m in outbox.all()] == [
        "Confirm your subscription to Community",
        "Welcome to Community",
    ]


def test_it_sends_no_welcome_when_the_list_says_so(client, community, outbox) -> None:
    services.update_list(community, actor="test", send_welcome=False)
    client.post(PAGE, {"address": "bob@example.org"})
    client.post(link_in(outbox.last(), "confirm"))
    assert _sub("bob@example.org").status == Status.ACTIVE
    assert len(outbox) == 1


def test_it_rejoins_a_former_member_through_confirmation(client, community, outbox) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    services.unsubscribe(sub, actor="test")
    client.post(PAGE, {"address": "bob@example.org"})
    assert _sub("bob@example.org").status == Status.PENDING
    client.post(link_in(outbox.last(), "confirm"))
    assert _sub("bob@example.org").status == Status.ACTIVE


@pytest.mark.parametrize("address", ["", "not an address", "bob@", "x" * 300 + "@example.org"])
def test_it_explains_a_bad_address_and_stores_nothing(client, community, outbox, address) -> None:
    response = client.post(PAGE, {"address": address})
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert Member.objects.count() == 0
    assert len(outbox) == 0


def test_it_offers_no_confirm_button_on_a_link_used_before(client, community, outbox) -> None:
    client.post(PAGE, {"address": "bob@example.org"})
    confirm = link_in(outbox.last(), "confirm")
    client.post(confirm)
    again = client.get(confirm).content.decode()
    assert text(again, id="outcome") == "You were already subscribed"
    assert parse(again).iter("main")[0].iter("button") == []
