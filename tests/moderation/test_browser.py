"""A moderator signs in with Chromium and approves a held post."""

from __future__ import annotations

import pytest

from listkeeper.delivery.models import Recipient
from listkeeper.mail.models import PostStatus
from tests.browser import launch, needs_chromium
from tests.support.accounts import make_user
from tests.support.held import hold


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        yield browser
        browser.close()


@pytest.mark.browser
@needs_chromium
def test_a_moderator_signs_in_and_approves_a_held_post(browser, live_server, transactional_db):
    from listkeeper.lists import services
    from listkeeper.lists.models import Role

    ml = services.create_list("community", "lists.example.org", actor="test")
    for n in range(2):
        services.subscribe(ml, f"member{n}@example.com", actor="test")
    services.subscribe(ml, "mod@example.com", actor="test", role=Role.MODERATOR)
    make_user("mod@example.com", password="correct horse battery")
    post = hold(ml, subject="Question from a stranger")
    spam = hold(ml, subject="Unrelated offer")

    page = browser.new_page()
    page.goto(f"{live_server.url}/lists/{ml.id}/held/")
    # Not signed in: the sign-in page, which comes back to the queue afterwards.
    page.fill("input[name=username]", "mod@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.locator("form").filter(has=page.locator("input[name=password]")).locator(
        "button[type=submit], input[type=submit]"
    ).first.click()
    page.wait_for_url(f"**/lists/{ml.id}/held/")

    page.get_by_role("link", name="Question from a stranger").click()
    page.wait_for_url(f"**/lists/{ml.id}/held/{post.id}/")
    assert "Plain words for the moderator." in page.content()
    page.get_by_role("button", name="Approve", exact=True).click()
    page.wait_for_url(f"**/lists/{ml.id}/held/")

    assert "approved" in page.locator(".toasts").inner_text()
    assert page.get_by_role("link", name="Unrelated offer").is_visible()
    assert page.get_by_role("link", name="Question from a stranger").count() == 0
    post.refresh_from_db()
    spam.refresh_from_db()
    assert (post.status, spam.status) == (PostStatus.ACCEPTED, PostStatus.HELD)
    emails = sorted(Recipient.objects.filter(delivery__post=post).values_list("email", flat=True))
    assert emails == ["member0@example.com", "member1@example.com", "mod@example.com"]
