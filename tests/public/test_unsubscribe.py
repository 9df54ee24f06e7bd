from __future__ import annotations

from urllib.parse import urlsplit

from django.test import Client

from listkeeper.lib import links
from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Status
from tests.support.notices import text_of


def _url(ml, sub) -> str:
    return urlsplit(links.unsubscribe_url(ml.id, sub.member_id)).path


def test_it_unsubscribes_on_a_one_click_post_without_session_or_csrf(community, outbox) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    client = Client(enforce_csrf_checks=True)
    response = client.post(_url(community, sub), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    sub.refresh_from_db()
    assert sub.status == Status.UNSUBSCRIBED
    entry = AuditEntry.objects.filter(action="unsubscribe").get()
    assert entry.details["reason"] == "one-click"


def test_it_accepts_the_one_click_body_urlencoded_too(community) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    client = Client(enforce_csrf_checks=True)
    # The test client sends a dict as multipart/form-data (the test above);
    # RFC 8058 allows application/x-www-form-urlencoded as well.
    response = client.generic(
        "POST",
        _url(community, sub),
        b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    sub.refresh_from_db()
    assert sub.status == Status.UNSUBSCRIBED


def test_it_answers_200_again_when_already_unsubscribed(community) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    client = Client(enforce_csrf_checks=True)
    first = client.post(_url(community, sub), {"List-Unsubscribe": "One-Click"})
    second = client.post(_url(community, sub), {"List-Unsubscribe": "One-Click"})
    assert first.status_code == second.status_code == 200
    assert AuditEntry.objects.filter(action="unsubscribe").count() == 1


def test_it_never_unsubscribes_on_get(client, community, outbox) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    for _ in range(3):
        response = client.get(_url(community, sub))
        assert response.status_code == 200
    body = response.content.decode()
    assert "Leave Community?" in body and "bob@example.org" in body
    assert 'method="post"' in body
    sub.refresh_from_db()
    assert sub.status == Status.ACTIVE
    assert len(outbox) == 0


def test_it_unsubscribes_from_the_button_on_the_confirm_page(community) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    client = Client(enforce_csrf_checks=True)
    client.get(_url(community, sub))
    response = client.post(_url(community, sub), {"confirm": "1"})
    assert "You are unsubscribed" in response.content.decode()
    sub.refresh_from_db()
    assert sub.status == Status.UNSUBSCRIBED


def test_it_sends_a_goodbye_once_when_the_list_wants_one(client, community, outbox) -> None:
    services.update_list(community, actor="test", send_goodbye=True)
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    client.post(_url(community, sub), {"List-Unsubscribe": "One-Click"})
    client.post(_url(community, sub), {"List-Unsubscribe": "One-Click"})
    assert [m["Subject"] for m in outbox.all()] == ["You have left Community"]
    assert "/l/community@lists.example.org/" in text_of(outbox.last())


def test_it_sends_no_goodbye_by_default(client, community, outbox) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    client.post(_url(community, sub), {"List-Unsubscribe": "One-Click"})
    assert len(outbox) == 0


def test_it_answers_200_for_a_removed_member_or_a_deleted_list(client, community) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    url = _url(community, sub)
    services.remove(sub, actor="test")
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert "not subscribed" in client.get(url).content.decode()
    services.delete_list(community, actor="test")
    assert client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.get(url).status_code == 200


def test_it_leaves_other_lists_alone(client, community) -> None:
    other = services.create_list("other", "lists.example.org", actor="test")
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    kept = services.subscribe(other, "bob@example.org", actor="test").subscription
    client.post(_url(community, sub), {"List-Unsubscribe": "One-Click"})
    kept.refresh_from_db()
    assert kept.status == Status.ACTIVE
