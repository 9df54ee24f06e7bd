"""The subscribe, confirm and manage pages in Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import Status, Subscription
from tests.browser import launch, needs_chromium
from tests.support.notices import link_in

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def page(live_server) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture
def community_tx(transactional_db):
    return services.create_list(
        "community",
        "lists.example.org",
        actor="test",
        display_name="Community",
        description="Neighbourhood news and help.",
    )


def _status(address: str) -> str:
    return Subscription.objects.get(member__key=address).status


def test_it_subscribes_and_confirms_in_the_browser(page, live_server, community_tx, outbox) -> None:
    page.goto(f"{live_server.url}/l/community@lists.example.org/")
    assert page.locator("h1").inner_text() == "Community"
    assert "Neighbourhood news and help." in page.content()
    page.get_by_label("Your email address").fill("carol@example.org")
    page.get_by_label("Your name (optional)").fill("Carol")
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_selector("#outcome")
    assert "Check your mail" in page.locator("h1").inner_text()
    assert _status("carol@example.org") == Status.PENDING

    confirm = link_in(outbox.last(), "confirm")
    page.goto(live_server.url + confirm)
    assert "Join Community?" in page.locator("h1").inner_text()
    assert "carol@example.org" in page.content()
    assert _status("carol@example.org") == Status.PENDING  # opening the link is not enough
    page.get_by_role("button", name="Confirm my subscription").click()
    assert page.locator("#outcome").inner_text() == "You are subscribed"
    assert _status("carol@example.org") == Status.ACTIVE
    assert outbox.last()["Subject"] == "Welcome to Community"


def test_it_shows_a_clear_page_for_a_broken_confirmation_link(
    page, live_server, community_tx
) -> None:
    response = page.goto(f"{live_server.url}/confirm/not-a-real-token/")
    assert response is not None and response.status == 400
    assert page.locator("#outcome").inner_text() == "This link does not work"


def test_it_manages_subscriptions_in_the_browser(page, live_server, community_tx, outbox) -> None:
    news = services.create_list("news", "lists.example.org", actor="test", display_name="News")
    services.subscribe(community_tx, "dave@example.org", actor="test")

    page.goto(f"{live_server.url}/manage/")
    page.get_by_label("Your email address").fill("dave@example.org")
    page.get_by_role("button", name="Send me a link").click()
    page.wait_for_selector("#outcome")

    page.goto(live_server.url + link_in(outbox.last(), "manage"))
    row = page.locator('tr[data-list="community@lists.example.org"]')
    row.get_by_role("button", name="Pause mail").click()
    assert "get no mail from it" in page.locator(".toasts").inner_text()
    assert Subscription.objects.get(mailing_list=community_tx).delivery == "nomail"

    page.locator('tr[data-list="news@lists.example.org"]').get_by_role(
        "button", name="Join"
    ).click()
    assert "You have joined News" in page.locator(".toasts").inner_text()
    assert Subscription.objects.get(mailing_list=news).status == Status.ACTIVE

    row = page.locator('tr[data-list="community@lists.example.org"]')
    row.get_by_role("button", name="Leave").click()
    assert "You have left Community" in page.locator(".toasts").inner_text()
    assert Subscription.objects.get(mailing_list=community_tx).status == Status.UNSUBSCRIBED
    row = page.locator('tr[data-list="community@lists.example.org"]')
    assert row.locator(".state").inner_text() == "Unsubscribed"


def test_it_unsubscribes_with_the_button_in_the_browser(page, live_server, community_tx) -> None:
    from listkeeper.lib import links

    sub = services.subscribe(community_tx, "erin@example.org", actor="test").subscription
    path = links.unsubscribe_url(community_tx.id, sub.member_id).split("/", 3)[3]
    page.goto(f"{live_server.url}/{path}")
    assert _status("erin@example.org") == Status.ACTIVE
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.locator("#outcome").inner_text() == "You are unsubscribed"
    assert _status("erin@example.org") == Status.UNSUBSCRIBED
