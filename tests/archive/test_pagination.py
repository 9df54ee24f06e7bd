"""A huge thread or month is shown a page at a time, and links find their page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from listkeeper.archive import store, views
from listkeeper.archive.models import ArchivedMessage, Thread
from listkeeper.lists import services
from listkeeper.lists.models import ArchiveVisibility
from tests.support.archive import make_message

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
BASE = "/archive/community.lists.example.org/"


def archive(ml, raws: list[bytes]) -> None:
    for start in range(0, len(raws), 500):
        store.store_many(ml, [store.item_from(ml, raw) for raw in raws[start : start + 500]])


def posts(html: str) -> list[str]:
    """The slugs of the messages a thread page shows, in order."""
    return re.findall(r'<li class="post[^"]*" id="m-([^"]+)"', html)


@pytest.fixture
def big_thread(ml) -> Thread:
    """250 messages in one thread: a chain of replies with a side reply every ten."""
    services.update_list(ml, actor="test", archive_visibility=ArchiveVisibility.PUBLIC)
    raws = [make_message("Plans", message_id="<t0@x>", date=T0)]
    for n in range(1, 250):
        parent = n - 1 if n % 10 else n - 5
        raws.append(
            make_message(
                "Re: Plans",
                f"Reply {n}.\n",
                message_id=f"<t{n}@x>",
                in_reply_to=f"<t{parent}@x>",
                date=T0 + timedelta(minutes=n),
            )
        )
    archive(ml, raws)
    return Thread.objects.get()


def test_a_big_thread_is_shown_a_page_at_a_time_in_reply_order(client, big_thread) -> None:
    in_order = list(
        ArchivedMessage.objects.filter(thread=big_thread)
        .order_by("path")
        .values_list("slug", flat=True)
    )
    assert len(in_order) == 250 and views.THREAD_PAGE == 100

    pages = [client.get(f"{BASE}t/{big_thread.slug}/", {"page": n}) for n in (1, 2, 3)]

    shown = [posts(page.content.decode()) for page in pages]
    assert [len(s) for s in shown] == [100, 100, 50]
    assert shown[0] + shown[1] + shown[2] == in_order  # reply order continues across pages
    first = pages[0].content.decode()
    assert "?page=2" in first and "?page=0" not in first
    assert "page 1 of 3" in first
    last = pages[2].content.decode()
    assert "?page=2" in last and "?page=4" not in last
    # Beyond the last page: the last page, not an error or an empty list.
    beyond = client.get(f"{BASE}t/{big_thread.slug}/", {"page": 9}).content.decode()
    assert posts(beyond) == shown[2]


def test_a_message_whose_parent_is_on_an_earlier_page_links_to_it(client, big_thread) -> None:
    html = client.get(f"{BASE}t/{big_thread.slug}/", {"page": 2}).content.decode()

    first = html[html.index('<li class="post') :]
    first = first[: first.index("</li>")]
    parent = ArchivedMessage.objects.get(slug=posts(html)[0]).reply_to
    assert f'href="{BASE}m/{parent}/">In reply to' in first


def test_a_permalink_links_to_the_page_of_its_thread_it_is_on(client, big_thread) -> None:
    in_order = list(
        ArchivedMessage.objects.filter(thread=big_thread)
        .order_by("path")
        .values_list("slug", flat=True)
    )
    for position in (1, 100, 101, 250):
        slug = in_order[position - 1]
        html = client.get(f"{BASE}m/{slug}/").content.decode()

        page = (position - 1) // 100 + 1
        query = f"?page={page}" if page > 1 else ""
        link = f"{BASE}t/{big_thread.slug}/{query}#m-{slug}"
        assert f'href="{link}"' in html, position
        assert f"message {position} of 250" in html
        assert slug in posts(client.get(link.split("#")[0]).content.decode())
        previous = in_order[position - 2] if position > 1 else None
        following = in_order[position] if position < 250 else None
        assert (f'href="{BASE}m/{previous}/" rel="prev"' in html) == bool(previous)
        assert (f'href="{BASE}m/{following}/" rel="next"' in html) == bool(following)


def test_a_big_month_is_paginated_by_thread_and_by_date(client, ml) -> None:
    services.update_list(ml, actor="test", archive_visibility=ArchiveVisibility.PUBLIC)
    # 130 threads of two messages each, a thread every few hours of October.
    raws = []
    for t in range(130):
        when = T0 + timedelta(hours=5 * t)
        raws.append(make_message(f"Topic {t}", message_id=f"<s{t}@x>", date=when))
        raws.append(
            make_message(
                f"Re: Topic {t}",
                message_id=f"<r{t}@x>",
                in_reply_to=f"<s{t}@x>",
                date=when + timedelta(minutes=30),
            )
        )
    archive(ml, raws)

    first = client.get(f"{BASE}2026/10/").content.decode()
    second = client.get(f"{BASE}2026/10/", {"page": 2}).content.decode()

    topics = [re.findall(r">Topic (\d+)</a>", html) for html in (first, second)]
    assert [len(t) for t in topics] == [100, 30]
    # Latest thread first, and every thread exactly once over the pages.
    assert [int(t) for t in topics[0] + topics[1]] == list(range(129, -1, -1))
    assert 'href="?page=2"' in first and "130 threads" in first

    by_date = [
        client.get(f"{BASE}2026/10/", {"by": "date", "page": n}).content.decode() for n in (1, 2)
    ]
    rows = [re.findall(r'<a href="[^"]+/m/[^"]+/">(?:Re: )?Topic \d+</a>', h) for h in by_date]
    assert [len(r) for r in rows] == [200, 60]
    assert 'href="?by=date&amp;page=2"' in by_date[0]
