"""What members and moderators do, end to end on the real mail path.

Web pages are driven with Django's test client; every mail goes in through
Postfix's public smtpd (smtplib), through our LMTP server and the worker, and
out through Postfix to the SES stand-in, where the tests read it as a member's
mailbox would: links are taken from the messages that arrived there.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Role, Status, Subscription
from listkeeper.mail.models import Post, PostStatus
from tests.support.mailpath import MailPath, parsed
from tests.support.worker import wait_for

pytestmark = pytest.mark.e2e

MEMBERS = [f"community.m{i}@example.net" for i in range(3)]


@pytest.fixture(autouse=True)
def _mail_into_the_ledger(settings):
    # Django's test set-up swaps in the locmem backend; the notices we send
    # ourselves (confirmation, welcome, rejection) must take the real path.
    settings.EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


# Reading the stand-in's mailbox ------------------------------------------------


def mail_to(path: MailPath, rcpt: str, subject: str, timeout: float = 60) -> list:
    """Wait until at least one message to `rcpt` whose Subject contains `subject` arrived."""

    def found() -> list:
        return [
            m
            for m in list(path.ses.messages)
            if rcpt in m.rcpt_tos and subject in str(m.message["Subject"])
        ]

    wait_for(lambda: bool(found()), timeout, f"{subject!r} to {rcpt} at the SES stand-in")
    return found()


def copies_of(path: MailPath, message_id: str) -> Counter[str]:
    """Recipients of the copies of one post (a copy keeps the post's Message-ID)."""
    return Counter(
        r
        for m in list(path.ses.messages)
        if str(m.message["Message-ID"]) == message_id
        for r in m.rcpt_tos
    )


def wait_for_copies(path: MailPath, message_id: str, expected: set[str]) -> Counter[str]:
    """Until every expected member has a copy and Postfix holds nothing more."""
    wait_for(
        lambda: expected <= set(copies_of(path, message_id)),
        60,
        f"copies of {message_id} for {sorted(expected)}",
    )
    # Whatever else was in flight has left Postfix too, so a duplicate or a copy
    # for someone unexpected would be counted below.
    wait_for(lambda: path.queued() == [], 60, "Postfix's queue to empty")
    return copies_of(path, message_id)


def text_of(received) -> str:
    return parsed(received.data).get_body(("plain",)).get_content()


def link_path(received, kind: str) -> str:
    """The path of the /KIND/<token>/ link in a received message's text part."""
    match = re.search(rf"https?://\S+?(/{kind}/[^/\s]+/)", text_of(received))
    assert match, f"no /{kind}/ link in:\n{text_of(received)}"
    return match.group(1)


def unsubscribe_path(received) -> str:
    header = str(parsed(received.data)["List-Unsubscribe"])
    url = header.split("<", 1)[1].split(">", 1)[0]
    return urlsplit(url).path


def status_of(ml: MailingList, email: str) -> str:
    return Subscription.objects.get(mailing_list=ml, member__key=email).status


def subscribe_on_the_web(path: MailPath, ml: MailingList, email: str) -> str:
    """Fill in the public list page's form; return the confirm link's path from the mail."""
    response = Client().post(f"/l/{ml.address}/", {"address": email, "name": "Newcomer"})
    assert response.status_code == 200, response.content.decode()[:500]
    (confirmation,) = mail_to(path, email, "Confirm your subscription")
    return link_path(confirmation, "confirm")


# The tests ------------------------------------------------------------------------


def test_it_delivers_the_next_post_to_someone_who_subscribed_and_confirmed_on_the_web(
    mailpath,
) -> None:
    ml = mailpath.make_list(members=2, posting_policy="open")
    mailpath.start_worker()
    newcomer = "newcomer@example.com"

    confirm = subscribe_on_the_web(mailpath, ml, newcomer)

    assert status_of(ml, newcomer) == Status.PENDING
    client = Client()
    # A mail scanner fetching the link subscribes nobody; the button's POST does.
    assert client.get(confirm).status_code == 200
    assert status_of(ml, newcomer) == Status.PENDING
    response = client.post(confirm)
    assert response.status_code == 200
    assert status_of(ml, newcomer) == Status.ACTIVE
    mail_to(mailpath, newcomer, "Welcome to")

    sent = mailpath.post(ml.address, subject="First post for the newcomer")

    expected = {newcomer, "community.m0@example.net", "community.m1@example.net"}
    got = wait_for_copies(mailpath, sent["Message-ID"], expected)
    assert got == Counter(expected)


def test_it_keeps_a_member_who_only_opened_the_unsubscribe_link(mailpath) -> None:
    ml = mailpath.make_list(members=3, posting_policy="open")
    mailpath.start_worker()
    first = mailpath.post(ml.address, subject="First")
    stays = MEMBERS[1]
    wait_for_copies(mailpath, first["Message-ID"], set(MEMBERS))
    (copy,) = [m for m in mailpath.ses.messages if m.rcpt_tos == [stays]]

    # What a link scanner or a curious click does: GET, no button pressed.
    response = Client().get(unsubscribe_path(copy))

    assert response.status_code == 200
    assert status_of(ml, stays) == Status.ACTIVE
    second = mailpath.post(ml.address, subject="Second")
    assert wait_for_copies(mailpath, second["Message-ID"], set(MEMBERS)) == Counter(MEMBERS)


def _owner_client(ml: MailingList) -> Client:
    owner = "owner@example.com"
    services.subscribe(ml, owner, actor="test", role=Role.OWNER)
    user = get_user_model().objects.create_user(owner, owner, "correct horse battery")
    client = Client()
    client.force_login(user)
    return client


def _held_post(ml: MailingList, subject: str) -> Post:
    wait_for(
        lambda: Post.objects.filter(mailing_list=ml, subject__contains=subject).exists(),
        60,
        f"the post {subject!r} to be stored",
    )
    return Post.objects.get(mailing_list=ml, subject__contains=subject)


def test_it_delivers_a_held_post_once_to_every_member_when_a_moderator_approves_it(
    mailpath,
) -> None:
    ml = mailpath.make_list(members=3)  # members-only: a stranger's post is held
    moderator = _owner_client(ml)
    mailpath.start_worker()

    sent = mailpath.post(ml.address, sender="stranger@example.com", subject="Can I join in?")

    post = _held_post(ml, "Can I join in?")
    assert post.status == PostStatus.HELD
    # The owner is told something waits; that notice is how we know the
    # worker and Postfix have run, and still no member has the post.
    mail_to(mailpath, "owner@example.com", "waiting for moderation")
    assert copies_of(mailpath, sent["Message-ID"]) == Counter()

    response = moderator.post(
        reverse("held_posts", args=[ml.id]), {"action": "approve", "post": [post.id]}
    )

    assert response.status_code == 302
    post.refresh_from_db()
    assert post.status == PostStatus.ACCEPTED
    everyone = set(MEMBERS) | {"owner@example.com"}
    assert wait_for_copies(mailpath, sent["Message-ID"], everyone) == Counter(everyone)
    # Approving again (a second moderator, a double click) sends nothing more.
    moderator.post(reverse("held_posts", args=[ml.id]), {"action": "approve", "post": [post.id]})
    assert wait_for_copies(mailpath, sent["Message-ID"], everyone) == Counter(everyone)


def test_it_tells_the_sender_why_a_moderator_rejected_the_post(mailpath) -> None:
    ml = mailpath.make_list(members=3)
    moderator = _owner_client(ml)
    mailpath.start_worker()
    sender = "stranger@example.com"
    sent = mailpath.post(ml.address, sender=sender, subject="Cheap watches")
    post = _held_post(ml, "Cheap watches")

    response = moderator.post(
        reverse("held_posts", args=[ml.id]),
        {"action": "reject", "post": [post.id], "reason": "Adverts are off-topic here."},
    )

    assert response.status_code == 302
    (notice,) = mail_to(mailpath, sender, "was not delivered")
    text = text_of(notice)
    assert "Adverts are off-topic here." in text
    assert "Cheap watches" in text
    assert parsed(notice.data)["In-Reply-To"] == sent["Message-ID"]
    post.refresh_from_db()
    assert post.status == PostStatus.REJECTED
    wait_for(lambda: mailpath.queued() == [], 60, "Postfix's queue to empty")
    assert copies_of(mailpath, sent["Message-ID"]) == Counter()


def test_it_unsubscribes_a_member_who_mails_unsubscribe_to_the_request_address(mailpath) -> None:
    ml = mailpath.make_list(members=3, posting_policy="open")
    mailpath.start_worker()
    leaver = MEMBERS[2]

    mailpath.post(
        f"{ml.local_part}-request@{ml.domain}",
        sender=leaver,
        subject="unsubscribe",
        body="unsubscribe\n",
        author="Leaver",
    )

    mail_to(mailpath, leaver, "You have left")
    assert status_of(ml, leaver) == Status.UNSUBSCRIBED
    sent = mailpath.post(ml.address, subject="After the leaver left")
    stay = set(MEMBERS) - {leaver}
    assert wait_for_copies(mailpath, sent["Message-ID"], stay) == Counter(stay)


def test_it_refuses_a_tampered_or_expired_confirm_link_and_changes_nothing(
    mailpath, monkeypatch
) -> None:
    ml = mailpath.make_list(members=1, posting_policy="open")
    mailpath.start_worker()
    newcomer = "newcomer@example.com"
    confirm = subscribe_on_the_web(mailpath, ml, newcomer)
    token = confirm.split("/")[2]
    tampered = confirm.replace(token, token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"))
    client = Client()
    queued = Delivery.objects.count()

    for method in (client.get, client.post):
        response = method(tampered)
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()

    real = time.time
    with monkeypatch.context() as m:
        # Eight days later: past the default seven-day lifetime.
        m.setattr(time, "time", lambda: real() + 8 * 24 * 3600)
        response = client.post(confirm)
    assert response.status_code == 400
    assert "expired" in response.content.decode()

    assert status_of(ml, newcomer) == Status.PENDING
    # No welcome was queued: the only mail for the newcomer is the confirmation.
    assert Delivery.objects.count() == queued
    wait_for(lambda: mailpath.queued() == [], 60, "Postfix's queue to empty")
    assert len(mailpath.copies_to(newcomer)) == 1
