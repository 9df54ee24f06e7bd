"""Every page of the owners' and the public interface in Chromium, signed in as each role.

Each page must load, pass axe-core with no serious or critical violation, and
fit a 390 px wide phone screen without the page scrolling sideways.

With LISTKEEPER_SCREENSHOTS=DIR set, every page is also saved as DIR/ROLE-PAGE-WIDTH.png
(what docs/screenshots/ was made from).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from listkeeper.delivery.models import Delivery
from listkeeper.lib import links
from listkeeper.lists import services
from listkeeper.lists.models import Role, Status
from listkeeper.mail.models import Post, PostStatus
from listkeeper.web.models import BulkImport, ImportState
from tests.browser import launch, needs_chromium
from tests.support.accounts import make_user
from tests.support.held import hold

pytestmark = [pytest.mark.browser, needs_chromium]

WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = os.environ.get("LISTKEEPER_SCREENSHOTS", "")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def build_site() -> dict[str, Any]:
    """Lists, people and posts enough that no page is empty (and some that are)."""
    community = services.create_list(
        "community",
        "lists.example.org",
        actor="test",
        display_name="Community",
        description="Neighbourhood news, lost cats and the summer fête.",
    )
    services.update_list(community, actor="test", subject_tag="[Community]")
    quiet = services.create_list("quiet", "lists.example.org", actor="test", display_name="Quiet")
    admin = make_user("root@example.org", admin=True)
    owner = make_user("owner@example.org")
    moderator = make_user("mod@example.org")
    services.subscribe(community, "Olga Owner <owner@example.org>", actor="test", role=Role.OWNER)
    services.subscribe(
        community, "Moe Moderator <mod@example.org>", actor="test", role=Role.MODERATOR
    )
    people = [
        ("Ann Example", "ann@example.org"),
        ("Bob Builder", "bob.builder@example.net"),
        ("Carol Singer", "carol@example.com"),
        ("Dave Long-Name-Person", "dave.with.a.really.long.address@subdomain.example.org"),
        ("", "erin@example.org"),
    ]
    subs = [
        services.subscribe(community, f"{n} <{a}>" if n else a, actor="test").subscription
        for n, a in people
    ]
    services.set_status(subs[2], Status.DISABLED, actor="system", reason="5 hard bounces")
    services.unsubscribe(subs[4], actor="test")
    services.subscribe(quiet, "ann@example.org", actor="test")
    held = hold(community, subject="Can I sell tickets here?")
    sent = Post.objects.create(
        mailing_list=community,
        sender="ann@example.org",
        author="ann@example.org",
        subject="Summer fête: volunteers wanted",
        raw=b"",
        status=PostStatus.ACCEPTED,
        reason="ann@example.org is a member of this list",
    )
    Delivery.objects.create(
        post=sent,
        message=b"",
        envelope_from="community-bounces@lists.example.org",
        state="running",
        total=240,
        handed_off=96,
    )
    services.add_ban(community, "*@spam.example", actor="test", reason="sells watches")
    job = BulkImport.objects.create(
        created_by=owner,
        actor="owner@example.org",
        source_name="pasted text",
        pasted=True,
        state=ImportState.PREVIEW,
        rows=3,
        valid=2,
        invalid=1,
        summary={str(community.id): {"new": 2, "back": 0, "already": 0}},
        addresses="john.roe@example.org\tJohn Roe\nmary.major@example.org\tMary Major",
        heartbeat=timezone.now(),
    )
    job.lists.set([community])
    job.problems.create(line=2, kind="invalid", value="not-an-address", message="no @")
    return {
        "community": community,
        "quiet": quiet,
        "users": {"admin": admin, "owner": owner, "moderator": moderator},
        "held": held,
        "member": subs[0],
        "job": job,
    }


def pages_for(role: str, site: dict[str, Any]) -> dict[str, str]:
    c, q = site["community"].id, site["quiet"].id
    member = site["member"]
    held = site["held"].id
    moderator = {
        "dashboard": "/",
        "lists": "/lists/",
        "held-posts": f"/lists/{c}/held/",
        "held-post": f"/lists/{c}/held/{held}/",
        "password": "/accounts/password/",
    }
    owner = {
        **moderator,
        "members": f"/lists/{c}/",
        "members-filtered": f"/lists/{c}/?status=active&q=example",
        "add-member": f"/lists/{c}/members/add/",
        "list-settings": f"/lists/{c}/settings/",
        "bans": f"/lists/{c}/bans/",
        "deliverability": f"/lists/{c}/deliverability/",
        "bulk-add": "/bulk/",
        "bulk-preview": f"/bulk/{site['job'].id}/",
        "people": "/members/",
        "person": f"/members/{member.member_id}/",
        "audit": "/audit/",
    }
    admin = {
        **owner,
        "new-list": "/lists/new/",
        "delete-list": f"/lists/{q}/delete/",
        "erase-person": f"/members/{member.member_id}/erase/",
        "users": "/users/",
        "new-user": "/users/new/",
        "status": "/status/",
        "empty-list": f"/lists/{q}/bans/",
    }
    public = {
        "sign-in": "/accounts/login/",
        "password-reset": "/accounts/password/reset/",
        "subscribe": "/l/community@lists.example.org/",
        "manage-request": "/manage/",
        "confirm": path_of(links.confirm_url(c, "newcomer@example.org")),
        "unsubscribe": path_of(links.unsubscribe_url(c, member.member_id)),
        "manage": path_of(links.manage_url("ann@example.org")),
        "bad-link": "/confirm/not-a-real-token/",
        "not-found": "/no/such/page/",
    }
    return {"admin": admin, "owner": owner, "moderator": moderator, "public": public}[role]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


def signed_in_context(
    browser: Any, base_url: str, user: Any | None, viewport: dict[str, int]
) -> Any:
    context = browser.new_context(base_url=base_url, viewport=viewport)
    if user is not None:
        client = Client()
        client.force_login(user)
        host = urlsplit(base_url).hostname
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "domain": host, "path": "/"}]
        )
    return context


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0 when it fits)."""
    return int(
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - window.innerWidth"
        )
    )


@pytest.mark.parametrize("role", ["admin", "owner", "moderator", "public"])
def test_every_page_is_accessible_and_fits_a_phone(browser, live_server, transactional_db, role):
    site = build_site()
    user = site["users"].get(role)
    problems: dict[str, list[str]] = {}
    for viewport, width in ((WIDE, "1280"), (PHONE, "390")):
        context = signed_in_context(browser, live_server.url, user, viewport)
        page = context.new_page()
        page.set_default_timeout(15000)
        for name, url in pages_for(role, site).items():
            response = page.goto(url)
            expected = 404 if name == "not-found" else 400 if name == "bad-link" else 200
            found: list[str] = []
            if response.status != expected:
                found.append(f"HTTP {response.status}, expected {expected}")
            if width == "1280":
                found += serious_violations(page)
            else:
                extra = overflow(page)
                if extra > 0:
                    found.append(f"{extra} px wider than the 390 px screen")
            if SCREENSHOTS:
                Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{SCREENSHOTS}/{role}-{name}-{width}.png", full_page=True)
            if found:
                problems[f"{name} {url} at {width}"] = found
        context.close()
    assert problems == {}


@pytest.mark.parametrize("role", ["admin", "public"])
def test_every_page_fits_in_german(browser, live_server, transactional_db, role):
    """German words are longer: no page may scroll sideways at either width."""
    site = build_site()
    user = site["users"].get(role)
    host = urlsplit(live_server.url).hostname
    problems: dict[str, list[str]] = {}
    for viewport, width in ((WIDE, "1280"), (PHONE, "390")):
        context = signed_in_context(browser, live_server.url, user, viewport)
        # What the footer's language switch leaves behind (and a German browser asks for).
        context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "de", "domain": host, "path": "/"}]
        )
        context.set_extra_http_headers({"Accept-Language": "de"})
        page = context.new_page()
        page.set_default_timeout(15000)
        for name, url in pages_for(role, site).items():
            page.goto(url)
            found = [] if page.locator("html").get_attribute("lang") == "de" else ["not German"]
            extra = overflow(page)
            if extra > 0:
                found.append(f"{extra} px wider than the {width} px screen")
            if SCREENSHOTS:
                Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{SCREENSHOTS}/de-{role}-{name}-{width}.png", full_page=True)
            if found:
                problems[f"{name} {url} at {width}"] = found
        context.close()
    assert problems == {}
