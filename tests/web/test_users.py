"""Site admins manage accounts; the new user sets a password from a mailed link."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.urls import reverse

from listkeeper.lists.models import Role, Subscription
from listkeeper.lists.permissions import can_manage
from tests.support.html import text


def test_it_creates_an_owner_account_and_mails_a_password_link(admin_client, alpha, mailoutbox):
    response = admin_client.post(
        reverse("user_create"), {"email": "Olga@Example.org", "owns": [alpha.id]}
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="olga@example.org")
    assert not user.is_superuser
    assert (
        Subscription.objects.get(mailing_list=alpha, member__key="olga@example.org").role
        == Role.OWNER
    )
    assert can_manage(user, alpha)
    (mail,) = mailoutbox
    assert mail.to == ["Olga@example.org"]
    assert "account was created" in mail.body
    assert re.search(r"/accounts/reset/\S+/\S+/", mail.body)


def test_it_refuses_a_duplicate_account(admin_client):
    admin_client.post(reverse("user_create"), {"email": "olga@example.org"})
    response = admin_client.post(reverse("user_create"), {"email": "OLGA@example.org"})
    assert "already has an account" in response.content.decode()


def test_it_stops_and_allows_sign_in_and_never_locks_out_oneself(admin_client, admin_user):
    admin_client.post(reverse("user_create"), {"email": "olga@example.org"})
    olga = get_user_model().objects.get(username="olga@example.org")
    admin_client.post(reverse("user_change", args=[olga.id]), {"do": "deactivate"})
    olga.refresh_from_db()
    assert not olga.is_active
    admin_client.post(reverse("user_change", args=[olga.id]), {"do": "promote"})
    olga.refresh_from_db()
    assert olga.is_superuser
    response = admin_client.post(
        reverse("user_change", args=[admin_user.id]), {"do": "delete"}, follow=True
    )
    assert "cannot lock yourself out" in response.content.decode()
    assert get_user_model().objects.filter(id=admin_user.id).exists()


def test_it_asks_before_deleting_an_account(admin_client):
    admin_client.post(reverse("user_create"), {"email": "olga@example.org"})
    olga = get_user_model().objects.get(username="olga@example.org")
    url = reverse("user_change", args=[olga.id])
    page = admin_client.post(url, {"do": "delete"})
    assert page.status_code == 200
    assert text(page.content, id="confirm-heading") == "Delete the account of olga@example.org?"
    assert get_user_model().objects.filter(id=olga.id).count() == 1
    admin_client.post(url, {"do": "delete", "confirmed": "yes"})
    assert get_user_model().objects.filter(id=olga.id).count() == 0
