"""Owners see a list's waiting digest content and last issues, and can send now."""

from __future__ import annotations

import pytest

from listkeeper.delivery.models import DigestEntry, DigestIssue, Recipient
from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Subscription
from tests.support.digests import post
from tests.support.html import table_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha_posts(alpha):
    services.update_list(alpha, actor="test", posting_policy="open")
    sub = services.subscribe(alpha, "reader@example.net", actor="test").subscription
    Subscription.objects.filter(id=sub.id).update(delivery="digest")
    return [post(alpha, f"Subject {n}") for n in range(3)]


def _rows(html: str, table: str) -> list[str]:
    return [row[0] for row in table_rows(html, table)]


def test_it_shows_the_waiting_posts_and_sends_them_now(owner_client, alpha, alpha_posts) -> None:
    page = owner_client.get(f"/lists/{alpha.id}/digests/")
    assert page.status_code == 200
    html = page.content.decode()
    assert _rows(html, "digest-pending") == ["1", "2", "3"]
    assert [f"Subject {n}" in html for n in range(3)] == [True] * 3
    assert "No issue yet." in html

    response = owner_client.post(f"/lists/{alpha.id}/digests/", follow=True)
    html = response.content.decode()
    issue = DigestIssue.objects.get(mailing_list=alpha)
    assert (issue.posts, issue.recipients, issue.cut_by) == (3, 1, "owner@example.org")
    assert DigestEntry.objects.filter(mailing_list=alpha, issue__isnull=True).count() == 0
    assert Recipient.objects.filter(delivery__digest=issue).count() == 1
    assert _rows(html, "digest-issues") == ["Vol 1, Issue 1"]
    assert "No posts are waiting." in html
    assert AuditEntry.objects.filter(action="digest.cut", actor="owner@example.org").count() == 1

    again = owner_client.post(f"/lists/{alpha.id}/digests/", follow=True)
    assert "nothing was sent" in again.content.decode()
    assert DigestIssue.objects.filter(mailing_list=alpha).count() == 1


def test_only_the_lists_managers_see_it(owner_client, beta, moderator_client, alpha) -> None:
    assert owner_client.get(f"/lists/{beta.id}/digests/").status_code == 404
    assert moderator_client.get(f"/lists/{alpha.id}/digests/").status_code == 404
    assert owner_client.post(f"/lists/{beta.id}/digests/").status_code == 404
