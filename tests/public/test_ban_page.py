from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from listkeeper.lists import bans, services
from listkeeper.lists.models import AuditEntry, Ban

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user, backend=BACKEND)
    return client


@pytest.fixture
def owner(community) -> Client:
    services.subscribe(community, "owner@example.org", actor="test", role="owner")
    return _client(User.objects.create_user("owner", "owner@example.org", "pw"))


@pytest.fixture
def admin(db) -> Client:
    return _client(User.objects.create_superuser("root", "root@example.org", "pw"))


def _url(ml) -> str:
    return f"/lists/{ml.id}/bans/"


def test_it_lets_an_owner_ban_and_lift_a_ban(owner, community) -> None:
    response = owner.post(
        _url(community), {"pattern": "*@Spam.example", "reason": "spam"}, follow=True
    )
    assert "Banned *@spam.example" in response.content.decode()
    assert bans.is_banned(community, "x@spam.example")
    assert AuditEntry.objects.filter(action="ban.add", actor="owner@example.org").exists()
    ban = Ban.objects.get()
    owner.post(_url(community), {"remove": ban.id})
    assert not bans.is_banned(community, "x@spam.example")


def test_it_explains_a_bad_pattern(owner, community) -> None:
    response = owner.post(_url(community), {"pattern": "*"})
    assert response.status_code == 400
    assert "would ban everybody" in response.content.decode()
    assert Ban.objects.count() == 0


def test_it_keeps_site_wide_bans_for_site_admins(owner, admin, community) -> None:
    refused = owner.post(_url(community), {"pattern": "bob@example.org", "site_wide": "on"})
    assert Ban.objects.filter(mailing_list__isnull=True).count() == 0
    # The field is not offered to owners: the ban is made for their list only.
    assert refused.status_code == 302
    assert Ban.objects.get().mailing_list == community

    admin.post(_url(community), {"pattern": "*@spam.example", "site_wide": "on"})
    site_ban = Ban.objects.get(mailing_list__isnull=True)
    owner.post(_url(community), {"remove": site_ban.id})
    assert Ban.objects.filter(id=site_ban.id).exists()
    admin.post(_url(community), {"remove": site_ban.id})
    assert not Ban.objects.filter(id=site_ban.id).exists()


def test_it_hides_the_page_from_members_strangers_and_anonymous(community, settings) -> None:
    settings.LOGIN_URL = "/login/"  # the sign-in page belongs to the owner UI
    services.subscribe(community, "member@example.org", actor="test")
    member = _client(User.objects.create_user("member", "member@example.org", "pw"))
    assert member.get(_url(community)).status_code == 404
    assert member.post(_url(community), {"pattern": "x@example.org"}).status_code == 404
    anonymous = Client().get(_url(community))
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    assert Ban.objects.count() == 0
