from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from listkeeper.lib import links
from listkeeper.lists import services
from listkeeper.lists.models import Status, Subscription

from .conftest import link_in


@pytest.fixture
def lists(community):
    return {
        "community": community,
        "news": services.create_list(
            "news", "lists.example.org", actor="test", display_name="News"
        ),
        "secret": services.create_list(
            "secret", "lists.example.org", actor="test", display_name="Secret", public=False
        ),
        "hobby": services.create_list(
            "hobby", "lists.example.org", actor="test", display_name="Hobby"
        ),
    }


def _manage(address: str) -> str:
    return urlsplit(links.manage_url(address)).path


def _sub(ml, address: str = "bob@example.org") -> Subscription:
    return Subscription.objects.get(mailing_list=ml, member__key=address)


def test_it_mails_a_manage_link_that_opens_the_page(client, lists, outbox) -> None:
    services.subscribe(lists["community"], "Bob@example.org", actor="test")
    response = client.post("/manage/", {"address": "bob@EXAMPLE.org"})
    assert response.status_code == 200
    mail = outbox.last()
    assert mail["To"] == "Bob@example.org"
    assert mail["Subject"] == "Your mailing list subscriptions"
    page = client.get(link_in(mail, "manage"))
    assert page.status_code == 200
    assert "Bob@example.org" in page.content.decode()


def test_it_lists_every_list_of_the_address_and_the_public_ones_to_join(client, lists) -> None:
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    services.subscribe(lists["secret"], "bob@example.org", actor="test")
    body = client.get(_manage("bob@example.org")).content.decode()
    yours, _, joinable = body.partition("Other lists you can join")
    assert "community@lists.example.org" in yours and "secret@lists.example.org" in yours
    assert "news@lists.example.org" in joinable and "hobby@lists.example.org" in joinable
    assert "secret@lists.example.org" not in joinable
    assert "community@lists.example.org" not in joinable


def test_it_leaves_a_list(client, lists, outbox) -> None:
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    url = _manage("bob@example.org")
    response = client.post(url, {"action": "leave", "list": lists["community"].id}, follow=True)
    assert "You have left Community" in response.content.decode()
    assert _sub(lists["community"]).status == Status.UNSUBSCRIBED


def test_it_switches_to_nomail_and_back(client, lists) -> None:
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    url = _manage("bob@example.org")
    client.post(url, {"action": "delivery", "list": lists["community"].id, "delivery": "nomail"})
    assert _sub(lists["community"]).delivery == "nomail"
    assert _sub(lists["community"]).status == Status.ACTIVE
    client.post(url, {"action": "delivery", "list": lists["community"].id, "delivery": "regular"})
    assert _sub(lists["community"]).delivery == "regular"


def test_it_joins_a_public_list_at_once_and_welcomes(client, lists, outbox) -> None:
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    response = client.post(
        _manage("bob@example.org"), {"action": "join", "list": lists["news"].id}, follow=True
    )
    assert "You have joined News" in response.content.decode()
    assert _sub(lists["news"]).status == Status.ACTIVE
    assert outbox.last()["Subject"] == "Welcome to News"


def test_it_lets_a_proven_address_with_no_lists_join(client, lists) -> None:
    client.post(_manage("new@example.org"), {"action": "join", "list": lists["hobby"].id})
    assert _sub(lists["hobby"], "new@example.org").status == Status.ACTIVE


def test_it_refuses_to_join_a_hidden_list(client, lists) -> None:
    response = client.post(
        _manage("bob@example.org"), {"action": "join", "list": lists["secret"].id}, follow=True
    )
    assert "not open for joining" in response.content.decode()
    assert not Subscription.objects.filter(mailing_list=lists["secret"]).exists()


def test_it_refuses_a_banned_address(client, lists) -> None:
    services.add_ban(lists["news"], "bob@example.org", actor="test")
    response = client.post(
        _manage("bob@example.org"), {"action": "join", "list": lists["news"].id}, follow=True
    )
    assert "You cannot join News" in response.content.decode()
    assert not Subscription.objects.filter(mailing_list=lists["news"]).exists()


def test_it_changes_only_the_address_of_the_link(client, lists) -> None:
    services.subscribe(lists["community"], "alice@example.org", actor="test")
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    client.post(_manage("bob@example.org"), {"action": "leave", "list": lists["community"].id})
    assert _sub(lists["community"], "alice@example.org").status == Status.ACTIVE


def test_it_changes_nothing_on_get_or_without_csrf(lists) -> None:
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    url = _manage("bob@example.org")
    client = Client(enforce_csrf_checks=True)
    client.get(url, {"action": "leave", "list": lists["community"].id})
    response = client.post(url, {"action": "leave", "list": lists["community"].id})
    assert response.status_code == 403
    assert _sub(lists["community"]).status == Status.ACTIVE


def test_it_refuses_a_malformed_action(client, lists) -> None:
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    response = client.post(_manage("bob@example.org"), {"action": "explode", "list": "x"})
    assert response.status_code == 400
    assert _sub(lists["community"]).status == Status.ACTIVE


def test_it_offers_to_join_again_after_leaving(client, lists) -> None:
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    url = _manage("bob@example.org")
    client.post(url, {"action": "leave", "list": lists["community"].id})
    assert "Join again" in client.get(url).content.decode()
    client.post(url, {"action": "join", "list": lists["community"].id})
    assert _sub(lists["community"]).status == Status.ACTIVE


def test_a_member_chooses_a_digest_which_starts_with_the_next_issue(client, lists) -> None:
    services.subscribe(lists["community"], "bob@example.org", actor="test")
    url = _manage("bob@example.org")
    ml = lists["community"]
    page = client.post(
        url, {"action": "delivery", "list": ml.id, "delivery": "digest-plain"}, follow=True
    )
    sub = _sub(ml)
    assert (sub.delivery, sub.delivery_next) == ("regular", "digest-plain")
    text = page.content.decode()
    assert "as a plain-text digest from its next digest on" in text
    assert "Digest (plain text) from the next digest on" in text
    services.update_list(ml, actor="test", digests_enabled=False)
    page = client.post(
        url, {"action": "delivery", "list": ml.id, "delivery": "digest"}, follow=True
    )
    assert "sends no digests" in page.content.decode()
    assert _sub(ml).delivery_next == "digest-plain"
