from __future__ import annotations

from django.conf import settings
from django.shortcuts import resolve_url

from listkeeper.lists import services
from listkeeper.lists.models import Role
from listkeeper.mail.models import PostStatus
from tests.support.accounts import make_user
from tests.support.held import HOSTILE_HTML, hold, make_message


def test_it_sends_a_signed_out_visitor_to_sign_in(client, community):
    response = client.get(f"/lists/{community.id}/held/")
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL))


def test_it_hides_the_queue_from_people_who_do_not_moderate_the_list(client, community):
    post = hold(community)
    member = make_user("plain@example.com")
    services.subscribe(community, "plain@example.com", actor="test")
    client.force_login(member)
    assert client.get(f"/lists/{community.id}/held/").status_code == 404
    assert client.get(f"/lists/{community.id}/held/{post.id}/").status_code == 404
    response = client.post(f"/lists/{community.id}/held/", {"post": post.id, "action": "discard"})
    assert response.status_code == 404
    post.refresh_from_db()
    assert post.status == PostStatus.HELD


def test_it_hides_another_lists_post_behind_this_lists_url(client, community, moderator):
    other = services.create_list("other", "lists.example.org", actor="test")
    post = hold(other, subject="Other list's secret")
    client.force_login(moderator)
    assert client.get(f"/lists/{other.id}/held/").status_code == 404
    assert client.get(f"/lists/{community.id}/held/{post.id}/").status_code == 404


def test_it_lists_held_posts_with_sender_subject_reason_and_size(client, community, moderator):
    hold(community, subject="First question", sender="anna@outside.example")
    hold(community, subject="Second", reason="Message too large")
    accepted = hold(community, subject="Already out")
    accepted.status = PostStatus.ACCEPTED
    accepted.save()
    client.force_login(moderator)
    page = client.get(f"/lists/{community.id}/held/").content.decode()
    assert "First question" in page and "anna@outside.example" in page
    assert "Message too large" in page and "The sender is not a member" in page
    assert "Already out" not in page
    assert "bytes" in page or "KB" in page


def test_an_owner_sees_the_queue_too(client, community):
    owner = make_user("own@example.com")
    services.subscribe(community, "own@example.com", actor="test", role=Role.OWNER)
    hold(community, subject="For the owner")
    client.force_login(owner)
    assert b"For the owner" in client.get(f"/lists/{community.id}/held/").content


def test_it_previews_hostile_html_without_scripts_handlers_or_remote_images(
    client, community, moderator
):
    raw = make_message(html=HOSTILE_HTML)
    post = hold(community, raw)
    client.force_login(moderator)
    response = client.get(f"/lists/{community.id}/held/{post.id}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Plain words for the moderator." in page
    assert "<b>now</b>" in page  # harmless markup kept
    assert "<script" not in page.split("<main")[1]
    assert "pwned" not in page
    assert "onclick" not in page and "onerror" not in page
    assert "track.example" not in page
    assert "javascript:" not in page
    assert 'href="https://shop.example/"' in page
    assert "1 image not loaded" in page
    assert "img-src 'self' data:" in response["Content-Security-Policy"]


def test_it_lists_attachments_without_serving_them(client, community, moderator):
    secret = b"MZ\x90\x00 this is the payload of evil.exe"
    raw = make_message(attachment=("evil.exe", "application/octet-stream", secret))
    post = hold(community, raw)
    client.force_login(moderator)
    response = client.get(f"/lists/{community.id}/held/{post.id}/")
    page = response.content
    assert b"evil.exe" in page and b"application/octet-stream" in page
    assert b"payload of evil" not in page
    assert b"TVqQ" not in page  # nor its base64
    # No URL of ours hands out the attachment.
    for path in (
        f"/lists/{community.id}/held/{post.id}/evil.exe",
        f"/lists/{community.id}/held/{post.id}/attachments/0/",
    ):
        assert client.get(path).status_code == 404


def test_it_shows_text_in_a_pre_block_escaped(client, community, moderator):
    raw = make_message(text="<script>alert(1)</script> & friends\n")
    post = hold(community, raw)
    client.force_login(moderator)
    page = client.get(f"/lists/{community.id}/held/{post.id}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in page


def test_it_survives_a_message_that_is_not_mime(client, community, moderator):
    post = hold(community, b"\x00\xff garbage without headers")
    client.force_login(moderator)
    assert client.get(f"/lists/{community.id}/held/{post.id}/").status_code == 200


def test_it_asks_for_a_selection_before_acting(client, community, moderator):
    post = hold(community)
    client.force_login(moderator)
    response = client.post(f"/lists/{community.id}/held/", {"action": "discard"}, follow=True)
    assert b"Select at least one post" in response.content
    post.refresh_from_db()
    assert post.status == PostStatus.HELD


def test_the_held_notice_links_to_this_queue(community):
    from listkeeper.mail.moderation import moderation_url

    assert moderation_url(community) == f"{settings.SITE_URL}/lists/{community.id}/held/"


def test_the_queue_and_the_post_page_show_how_the_post_authenticated(
    community, moderator, client
) -> None:
    from html.parser import HTMLParser

    from listkeeper.mail import process

    post = process.handle_post(community, make_message(), "stranger@outside.example")
    assert post.status == PostStatus.HELD
    assert post.authentication == "dkim=none; spf=none; dmarc=none header.from=outside.example"

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.depth, self.texts = 0, []

        def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
            if ("class", "post-authentication") in attrs:
                self.depth = 1
                self.texts.append("")

        def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
            self.depth = 0

        def handle_data(self, data):  # type: ignore[no-untyped-def]
            if self.depth:
                self.texts[-1] += data

    client.force_login(moderator)
    for url in (f"/lists/{community.id}/held/", f"/lists/{community.id}/held/{post.id}/"):
        page = Cells()
        page.feed(client.get(url).content.decode())
        assert page.texts == ["dkim=none; spf=none; dmarc=none header.from=outside.example"], url
