from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from django.test import Client

from listkeeper.archive import store
from listkeeper.archive.models import ArchivedMessage
from listkeeper.lib import links
from listkeeper.lists import services
from listkeeper.lists.models import ArchiveVisibility, Role
from tests.archive.conftest import make_message
from tests.web.conftest import make_user

T0 = datetime(2026, 10, 1, 9, 5, tzinfo=UTC)
BASE = "/archive/community.lists.example.org/"


def put(ml, n: int, subject: str = "Plans", body: str = "Hello.\n", **kw) -> ArchivedMessage:
    raw = make_message(subject, body, message_id=f"<p{n}@x>", date=T0 + timedelta(hours=n), **kw)
    message = store.archive_raw(ml, raw)
    assert message is not None
    return message


def visible(ml, visibility: str) -> None:
    services.update_list(ml, actor="test", archive_visibility=visibility)


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def thread(ml):
    visible(ml, ArchiveVisibility.PUBLIC)
    root = put(ml, 1, body="Shall we meet?\n\n-- \nAlice, bob@example.org\n")
    reply = put(
        ml,
        2,
        "Re: Plans",
        "> Shall we meet?\n> On Monday?\n> Or Tuesday?\n\n    Tuesday works.\n",
        sender="Bob <bob@example.org>",
        in_reply_to="<p1@x>",
    )
    return root, reply


def test_the_index_shows_months_with_counts_and_the_latest_threads(client, thread) -> None:
    response = client.get(BASE)

    assert response.status_code == 200
    assert "2026-10 2 messages" in text_of(response)
    [link] = re.findall(r'href="(/archive/[^"]+/t/[^"]+/)"', response.content.decode())
    assert link == f"{BASE}t/{thread[0].slug}/"


def test_a_thread_shows_replies_in_order_with_indentation(client, thread) -> None:
    root, reply = thread
    html = client.get(f"{BASE}t/{root.slug}/").content.decode()

    posts = re.findall(r'<li class="post depth-(\d+)" id="m-(\w+)"', html)
    assert posts == [("0", root.slug), ("1", reply.slug)]
    # Text keeps its indentation in a <pre>; the quote and the signature fold.
    assert '<pre class="body">    Tuesday works.</pre>' in html
    assert html.count('<details class="quote">') == 1
    assert html.count('<details class="signature">') == 1


def test_a_public_archive_obscures_addresses_and_has_no_mailto(client, thread) -> None:
    html = client.get(f"{BASE}m/{thread[0].slug}/").content.decode()

    assert "bob at example.org" in html
    assert "bob@example.org" not in html
    assert "mailto:" not in html


def test_the_message_page_is_the_permalink_with_the_date(client, thread) -> None:
    root, reply = thread
    response = client.get(f"{BASE}m/{reply.slug}/")

    assert response.status_code == 200
    page = text_of(response)
    assert "2026-10-01 11:05 UTC" in page
    assert f"{BASE}m/{root.slug}/" in response.content.decode()  # in reply to
    assert (
        links.archive_message_url("community.lists.example.org", reply.slug)
        == f"http://127.0.0.1:8000{BASE}m/{reply.slug}/"
    )


def test_the_month_pages_list_threads_and_messages_by_date(client, thread) -> None:
    by_thread = client.get(f"{BASE}2026/10/")
    by_date = client.get(f"{BASE}2026/10/?by=date")

    assert re.findall(r"/t/(\w+)/", by_thread.content.decode()) == [thread[0].slug]
    assert re.findall(r"/m/(\w+)/", by_date.content.decode()) == [m.slug for m in thread]
    assert client.get(f"{BASE}2026/13/").status_code == 404


def test_search_marks_the_words_found(client, thread) -> None:
    response = client.get(BASE, {"q": "tuesday works"})

    html = response.content.decode()
    assert "1 message match" in text_of(response)
    assert "<mark>Tuesday</mark>" in html
    assert "<mark>works</mark>" in html


def test_the_atom_feed_lists_a_public_archives_latest_posts(client, thread) -> None:
    response = client.get(f"{BASE}feed.atom")

    assert response["Content-Type"].startswith("application/atom+xml")
    entries = re.findall(r"<entry>.*?<link href=\"([^\"]+)\"", response.content.decode(), re.S)
    assert [e.rsplit("/", 2)[-2] for e in entries] == [thread[1].slug, thread[0].slug]
    assert b"bob@example.org" not in response.content


def test_members_only_refuses_a_visitor_and_admits_a_member_with_their_link(ml) -> None:
    visible(ml, ArchiveVisibility.MEMBERS)
    message = put(ml, 1)
    visitor = Client()

    refused = visitor.get(f"{BASE}m/{message.slug}/")
    assert refused.status_code == 403
    assert "/manage/" in refused.content.decode()
    assert visitor.get(f"{BASE}feed.atom").status_code == 404
    assert visitor.get(f"{BASE}2026/10/mbox").status_code == 403

    manage = links.manage_url("bob@example.org").removeprefix("http://127.0.0.1:8000")
    assert visitor.get(manage).status_code == 200
    page = visitor.get(f"{BASE}m/{message.slug}/")
    assert page.status_code == 200
    assert "alice@example.com" in page.content.decode()  # members see addresses
    assert visitor.get(f"{BASE}?q=hello").status_code == 200


def test_a_link_for_someone_not_on_the_list_does_not_admit_them(ml) -> None:
    visible(ml, ArchiveVisibility.MEMBERS)
    message = put(ml, 1)
    other = services.create_list("other", "lists.example.org", actor="test")
    services.subscribe(other, "carol@example.net", actor="test")
    visitor = Client()
    visitor.get(links.manage_url("carol@example.net").removeprefix("http://127.0.0.1:8000"))

    assert visitor.get(f"{BASE}m/{message.slug}/").status_code == 403


def test_a_private_archive_is_for_owners_and_moderators_only(ml) -> None:
    visible(ml, ArchiveVisibility.PRIVATE)
    message = put(ml, 1)
    member = Client()
    member.get(links.manage_url("bob@example.org").removeprefix("http://127.0.0.1:8000"))
    moderator = Client()
    user = make_user("mod@example.org")
    services.subscribe(ml, user.email, actor="test", role=Role.MODERATOR)
    moderator.force_login(user)

    assert Client().get(f"{BASE}m/{message.slug}/").status_code == 404
    assert member.get(f"{BASE}m/{message.slug}/").status_code == 404
    assert moderator.get(f"{BASE}m/{message.slug}/").status_code == 200
    assert moderator.get(f"{BASE}2026/10/mbox").status_code == 200


def _with_parts(*parts: tuple[str, str, bytes | str, str | None]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@example.net>"
    msg["Subject"] = "Parts"
    msg["Message-ID"] = "<parts@x>"
    msg["Date"] = format_datetime(T0)
    msg.set_content("See attached.\n")
    for maintype, subtype, data, name in parts:
        if isinstance(data, str):
            msg.add_attachment(data, subtype=subtype, filename=name)
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def test_attachments_download_with_a_harmless_type_only(client, ml) -> None:
    visible(ml, ArchiveVisibility.PUBLIC)
    raw = _with_parts(
        ("application", "pdf", b"%PDF-1.4 fake", "report.pdf"),
        ("text", "html", "<script>alert(1)</script>", "evil.html"),
    )
    message = store.archive_raw(ml, raw)
    assert [a["filename"] for a in message.attachments] == ["report.pdf", "evil.html"]
    html = client.get(f"{BASE}m/{message.slug}/").content.decode()
    urls = re.findall(r'href="([^"]+/attachments/[^"]+)"', html)
    assert len(urls) == 2

    pdf, evil = client.get(urls[0]), client.get(urls[1])

    assert pdf.content == b"%PDF-1.4 fake"
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"].startswith('attachment; filename="report.pdf"')
    assert pdf["X-Content-Type-Options"] == "nosniff"
    assert evil["Content-Type"] == "application/octet-stream"
    assert evil["Content-Disposition"].startswith("attachment;")
    assert evil.content.strip() == b"<script>alert(1)</script>"
    assert client.get(re.sub(r"/attachments/\d+/", "/attachments/9/", urls[0])).status_code == 404
