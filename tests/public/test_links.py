"""Expired and tampered links: a clear page, HTTP 400, nothing changed."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from listkeeper.lib import links, tokens
from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Status, Subscription
from tests.support.notices import link_in

PAGE = "/l/community@lists.example.org/"


def _path(url: str) -> str:
    return urlsplit(url).path


def _made_days_ago(monkeypatch, days: float, make):
    real = time.time
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: real() - days * 24 * 3600)
        return make()


def test_it_refuses_an_expired_confirmation_link(client, community, outbox, monkeypatch) -> None:
    services.subscribe(community, "bob@example.org", actor="test", status=Status.PENDING)
    url = _made_days_ago(monkeypatch, 8, lambda: links.confirm_url(community.id, "bob@example.org"))
    entries = AuditEntry.objects.count()
    for method in (client.get, client.post):
        response = method(_path(url))
        assert response.status_code == 400
        assert "expired" in response.content.decode()
    assert Subscription.objects.get().status == Status.PENDING
    assert AuditEntry.objects.count() == entries
    assert len(outbox) == 0


def test_it_honours_the_configured_link_lifetime(client, community, monkeypatch, settings) -> None:
    url = _made_days_ago(monkeypatch, 8, lambda: links.confirm_url(community.id, "bob@example.org"))
    settings.CONFIRM_LINK_DAYS = 10
    assert client.post(_path(url)).status_code == 200
    assert Subscription.objects.get().status == Status.ACTIVE


@pytest.mark.parametrize("kind", ["confirm", "manage", "u"])
def test_it_refuses_a_tampered_link(client, community, outbox, kind) -> None:
    sub = services.subscribe(
        community, "bob@example.org", actor="test", status=Status.PENDING
    ).subscription
    good = {
        "confirm": links.confirm_url(community.id, "bob@example.org"),
        "manage": links.manage_url("bob@example.org"),
        "u": links.unsubscribe_url(community.id, sub.member_id),
    }[kind]
    token = _path(good).split("/")[2]
    for bad in [
        token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
        token[:20],
        "nonsense",
    ]:
        for method in (client.get, client.post):
            response = method(f"/{kind}/{bad}/", {"action": "leave", "list": community.id})
            assert response.status_code == 400, (kind, bad)
            assert "This link does not work" in response.content.decode()
    sub.refresh_from_db()
    assert sub.status == Status.PENDING
    assert len(outbox) == 0


def test_it_refuses_a_link_of_one_kind_used_as_another(client, community) -> None:
    sub = services.subscribe(
        community, "bob@example.org", actor="test", status=Status.PENDING
    ).subscription
    manage_token = tokens.manage_token("bob@example.org")
    unsubscribe_token = tokens.unsubscribe_token(community.id, sub.member_id)
    assert client.post(f"/confirm/{manage_token}/").status_code == 400
    assert client.post(f"/confirm/{unsubscribe_token}/").status_code == 400
    assert client.post(f"/u/{manage_token}/").status_code == 400
    sub.refresh_from_db()
    assert sub.status == Status.PENDING


def test_it_refuses_an_expired_manage_link(client, community, monkeypatch) -> None:
    services.subscribe(community, "bob@example.org", actor="test")
    url = _made_days_ago(monkeypatch, 8, lambda: links.manage_url("bob@example.org"))
    response = client.post(_path(url), {"action": "leave", "list": community.id})
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert Subscription.objects.get().status == Status.ACTIVE


def test_it_keeps_unsubscribe_links_working_for_ever(client, community, monkeypatch) -> None:
    sub = services.subscribe(community, "bob@example.org", actor="test").subscription
    url = _made_days_ago(
        monkeypatch, 400, lambda: links.unsubscribe_url(community.id, sub.member_id)
    )
    assert client.post(_path(url)).status_code == 200
    sub.refresh_from_db()
    assert sub.status == Status.UNSUBSCRIBED


def test_it_confirms_from_the_link_in_the_mail(client, community, outbox) -> None:
    client.post(PAGE, {"address": "bob@example.org"})
    assert client.post(link_in(outbox.last(), "confirm")).status_code == 200
