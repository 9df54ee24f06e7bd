"""The archive pages in Debian's Chromium: index, thread, search, a message with an attachment.

Screenshots go to $ARCHIVE_SCREENSHOTS (default /tmp/archive-screenshots) for a person to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from listkeeper.archive import store
from listkeeper.lists import services
from listkeeper.lists.models import ArchiveVisibility
from tests.browser import launch, needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]

SHOTS = Path(os.environ.get("ARCHIVE_SCREENSHOTS", "/tmp/archive-screenshots"))
T0 = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


def _message(n: int, subject: str, body: str, sender: str, reply_to: str | None = None):
    msg = EmailMessage()
    msg["From"] = sender
    msg["Subject"] = subject
    msg["Message-ID"] = f"<b{n}@example.net>"
    msg["Date"] = format_datetime(T0 + timedelta(minutes=17 * n))
    if reply_to:
        msg["In-Reply-To"] = reply_to
        msg["References"] = reply_to
    msg.set_content(body)
    return msg


@pytest.fixture
def archive(transactional_db):
    ml = services.create_list(
        "community", "lists.example.org", actor="test", display_name="Community"
    )
    services.update_list(ml, actor="test", archive_visibility=ArchiveVisibility.PUBLIC)
    first = _message(
        1,
        "Rota for the community garden",
        "Hello all,\n\nHere is the rota:\n\n    Mon  Alice\n    Tue  Bob\n    Wed  Carol\n\n"
        "Write to alice@example.com with changes.\n\n-- \nAlice\nGarden group\n",
        "Alice Example <alice@example.com>",
    )
    first.add_attachment(
        b"%PDF-1.4\n% rota\n", maintype="application", subtype="pdf", filename="rota.pdf"
    )
    reply = _message(
        2,
        "Re: Rota for the community garden",
        "> Here is the rota:\n>\n>     Mon  Alice\n>     Tue  Bob\n\nI can swap Tuesday for the watering.\n",
        "Bob <bob@example.org>",
        "<b1@example.net>",
    )
    deeper = _message(
        3,
        "Re: Rota for the community garden",
        "Thanks Bob, watering on Tuesday it is.\n",
        "Alice Example <alice@example.com>",
        "<b2@example.net>",
    )
    for msg in (first, reply, deeper):
        assert store.archive_raw(ml, msg.as_bytes()) is not None
    return ml


@pytest.fixture
def page(live_server) -> Iterator:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context(
                accept_downloads=True, locale="en-GB", timezone_id="Europe/London"
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on(
                "response",
                lambda r: (
                    r.status >= 400
                    and not r.url.endswith("/favicon.ico")
                    and errors.append(f"{r.status} {r.url}")
                ),
            )
            yield page
            # No CSP violations, script errors or missing resources; the
            # browser's own favicon request is the only 404 allowed.
            assert [e for e in errors if "404 (Not Found)" not in e] == []
            assert [e for e in errors if e.startswith(("4", "5"))] == []
        finally:
            browser.close()


def test_index_thread_search_and_attachment_in_chromium(page, live_server, archive) -> None:
    base = f"{live_server.url}/archive/community.lists.example.org/"

    page.goto(base)
    page.screenshot(path=SHOTS / "index.png", full_page=True)
    assert page.locator("h1").inner_text().startswith("Community")
    assert (
        page.locator("ul.months li").all_inner_texts() == ["2026-11\n3 messages"]
        or re.sub(r"\s+", " ", page.locator("ul.months li").inner_text()) == "2026-11 3 messages"
    )
    dates = page.locator("table.threads time").all_inner_texts()
    assert len(dates) == 1 and "2026" in dates[0]  # localised, still with the date

    page.get_by_role("link", name="Rota for the community garden").click()
    page.wait_for_selector("ol.thread")
    page.screenshot(path=SHOTS / "thread.png", full_page=True)
    classes = page.locator("ol.thread li.post").evaluate_all("els => els.map(e => e.className)")
    assert classes == ["post depth-0", "post depth-1", "post depth-2"]
    indents = page.locator("ol.thread li.post").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().left)"
    )
    assert indents[0] < indents[1] < indents[2]
    assert page.locator("details.quote").count() == 1
    assert not page.locator("details.quote pre").is_visible()  # folded
    assert "alice at example.com" in page.locator("ol.thread").inner_text()
    rota = page.locator("ol.thread li.post").first.locator("pre.body").first
    assert rota.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    assert (
        "monospace" in rota.evaluate("e => getComputedStyle(e).fontFamily").lower()
        or "mono" in rota.evaluate("e => getComputedStyle(e).fontFamily").lower()
    )

    page.get_by_label("Search this archive").fill("watering tuesday")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("p.result-count")
    page.screenshot(path=SHOTS / "search.png", full_page=True)
    assert page.locator("p.result-count").inner_text().startswith("2 messages")
    marks = {t.lower() for t in page.locator("ol.hits mark").all_inner_texts()}
    assert marks == {"watering", "tuesday"}
    assert (
        page.locator("ol.hits mark").first.evaluate("e => getComputedStyle(e).backgroundColor")
        != "rgba(0, 0, 0, 0)"
    )

    page.goto(base)
    page.get_by_role("link", name="Rota for the community garden").click()
    page.locator("ol.thread li.post").first.get_by_role("link", name="permalink").click()
    page.wait_for_selector("article.message")
    page.screenshot(path=SHOTS / "message.png", full_page=True)
    with page.expect_download() as info:
        page.get_by_role("link", name="rota.pdf").click()
    download = info.value
    assert download.suggested_filename == "rota.pdf"
    assert Path(download.path()).read_bytes() == b"%PDF-1.4\n% rota\n"
