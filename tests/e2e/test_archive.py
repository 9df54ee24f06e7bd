"""The archive on the real mail path: Postfix → LMTP → ledger + archive → worker → SES stand-in.

A member reads the Archived-At URL from the copy they received, the way a
mail client would show it, and the pages are fetched with Django's client.
"""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from listkeeper.archive.models import ArchivedMessage, Thread
from tests.e2e.test_member_flows import link_path, mail_to
from tests.support.mailpath import MailPath, lmtpd, mailpath, parsed  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _mail_into_the_ledger(settings):
    settings.EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"
    cache.clear()


def send(path: MailPath, to: str, sender: str, subject: str, body: str, **headers: str) -> str:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    local = re.sub(r"\W+", ".", subject)
    msg["Message-ID"] = f"<{local}@example.net>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    with smtplib.SMTP(*settings.SMTP_LISTEN, timeout=30) as client:
        client.send_message(msg)
    return str(msg["Message-ID"])


def archived_at(received) -> str:
    value = str(parsed(received.data)["Archived-At"])
    assert value.startswith("<") and value.endswith(">"), value
    return urlsplit(value[1:-1]).path


def test_a_post_is_archived_threaded_searchable_and_members_only(mailpath) -> None:
    ml = mailpath.make_list(members=2, posting_policy="open", archive_visibility="members")
    mailpath.start_worker()
    member = "community.m0@example.net"

    first_id = send(
        mailpath,
        ml.address,
        "Alice <alice@example.com>",
        "Archive walk on Saturday",
        "Meet at the lighthouse at ten.\n",
    )
    (copy,) = mail_to(mailpath, member, "Archive walk on Saturday")
    permalink = archived_at(copy)
    assert "@" not in permalink
    list_archive = str(parsed(copy.data)["List-Archive"])
    assert list_archive.endswith("/archive/community.lists.example.org/>")

    visitor = Client()
    assert visitor.get(permalink).status_code == 403

    # The member asks for their self-service link and follows it from the mail.
    assert visitor.post("/manage/", {"address": member}).status_code == 200
    (manage_mail,) = mail_to(mailpath, member, "Your mailing list subscriptions")
    assert visitor.get(link_path(manage_mail, "manage")).status_code == 200
    page = visitor.get(permalink)
    assert page.status_code == 200
    assert "Meet at the lighthouse at ten." in page.content.decode()

    send(
        mailpath,
        ml.address,
        f"Member Zero <{member}>",
        "Re: Archive walk on Saturday",
        "> Meet at the lighthouse at ten.\n\nI will bring coffee.\n",
        In_Reply_To=first_id,
        References=first_id,
    )
    (reply_copy,) = mail_to(mailpath, "community.m1@example.net", "Re: Archive walk")
    reply_link = archived_at(reply_copy)
    assert reply_link != permalink

    [thread] = Thread.objects.filter(mailing_list=ml)
    assert thread.count == 2
    html = visitor.get(f"/archive/{ml.list_id}/t/{thread.slug}/").content.decode()
    order = re.findall(r'<li class="post depth-(\d)" id="m-(\w+)"', html)
    assert order == [
        ("0", permalink.rstrip("/").rsplit("/", 1)[1]),
        ("1", reply_link.rstrip("/").rsplit("/", 1)[1]),
    ]

    found = visitor.get(f"/archive/{ml.list_id}/", {"q": "coffee lighthouse"}).content.decode()
    assert re.findall(r'class="subject" href="([^"]+)"', found) == [reply_link]
    assert ArchivedMessage.objects.filter(mailing_list=ml).count() == 2
