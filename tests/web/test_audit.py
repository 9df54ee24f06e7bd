"""The audit log: who changed what and when, filtered by list, member and user."""

from __future__ import annotations

from django.urls import reverse

from listkeeper.lists import services
from tests.support.html import texts


def actions_on(body: str) -> list[str]:
    return texts(body, "td", cls="action")


def test_it_logs_web_changes_with_who_and_filters_them(admin_client, alpha, beta):
    admin_client.post(
        reverse("list_member_add", args=[alpha.id]),
        {"address": "ann@example.org", "role": "member"},
        follow=True,
    )
    admin_client.post(
        reverse("list_member_add", args=[beta.id]),
        {"address": "bob@example.org", "role": "member"},
        follow=True,
    )
    services.subscribe(beta, "carol@example.org", actor="someone@example.net")

    body = admin_client.get(reverse("audit"), {"list": alpha.id}).content.decode()
    assert "ann@example.org" in body and "bob@example.org" not in body
    assert "root@example.org" in body

    body = admin_client.get(reverse("audit"), {"actor": "someone"}).content.decode()
    assert "carol@example.org" in body and "ann@example.org" not in body

    ann = services.find_member("ann@example.org")
    body = admin_client.get(reverse("audit"), {"member": ann.id}).content.decode()
    assert "of ann@example.org" in body
    assert "bob@example.org" not in body and "carol@example.org" not in body

    body = admin_client.get(reverse("audit"), {"action": "list"}).content.decode()
    assert set(actions_on(body)) == {"list.create"}


def test_it_shows_a_settings_change_as_readable_lines(admin_client, alpha):
    services.update_list(alpha, actor="test", subject_tag="[News]", public=False)
    body = admin_client.get(reverse("audit"), {"action": "list.update"}).content.decode()
    (details,) = texts(body, "td", cls="details")
    assert "{" not in details and "[''" not in details
    assert "subject tag: (empty) → [News]" in details
    assert "public: yes → no" in details
