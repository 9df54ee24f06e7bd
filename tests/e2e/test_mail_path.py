"""A post through the real Postfix, our LMTP server, the worker, Postfix again and the SES stand-in."""

from __future__ import annotations

import smtplib
from collections import Counter

import pytest
from django.conf import settings

from listkeeper.delivery.models import Recipient
from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.models import DeliveryMode, Subscription
from listkeeper.mail.models import Post, PostStatus
from tests.support.mailpath import parsed
from tests.support.worker import wait_for

pytestmark = pytest.mark.e2e


def test_it_gives_every_active_member_exactly_one_copy_fit_for_ses(mailpath) -> None:
    ml = mailpath.make_list(members=6)
    services.subscribe(ml, "Alice Example <alice@example.com>", actor="test")
    subs = {
        s.member.email: s
        for s in Subscription.objects.filter(mailing_list=ml).select_related("member")
    }
    services.unsubscribe(subs["community.m4@example.net"], actor="test")
    services.set_delivery(subs["community.m5@example.net"], DeliveryMode.NOMAIL, actor="test")
    mailpath.start_worker()

    sent = mailpath.post(ml.address, subject="Picnic on Saturday")

    expected = {f"community.m{i}@example.net" for i in range(4)} | {"alice@example.com"}
    mailpath.wait_delivered(ml)
    got = mailpath.ses.wait_for(len(expected))
    wait_for(lambda: len(mailpath.ses.messages) >= len(expected), what="every copy at SES")
    assert Counter(r for m in got for r in m.rcpt_tos) == Counter(expected)
    assert mailpath.ses.replies == []  # SES refused nothing: verified identities, <= 50 recipients
    for m in got:
        copy = parsed(m.data)
        rcpt = m.rcpt_tos[0]
        row = Recipient.objects.get(delivery__post__mailing_list=ml, email=rcpt)
        # VERP: the envelope names this ledger row, so a bounce names the member.
        local, domain = m.mail_from.split("@")
        assert domain == settings.LISTKEEPER_DOMAIN and local.startswith("community-bounces+")
        assert tokens.read_verp_token(local.split("+", 1)[1]) == row.id
        (author,) = copy["From"].addresses
        assert (author.display_name, author.addr_spec) == (
            "Alice Example via Community",
            ml.address,
        )
        assert copy["Subject"].endswith("Picnic on Saturday")
        assert copy["Message-ID"] == sent["Message-ID"]
        assert copy["List-Id"].endswith(f"<community.{settings.LISTKEEPER_DOMAIN}>")
        assert copy["List-Post"] == f"<mailto:community@{settings.LISTKEEPER_DOMAIN}>"
        assert copy["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = copy["List-Unsubscribe"].split("<")[1].split(">")[0]
        assert url.startswith(f"{settings.SITE_URL}/u/")
        assert tokens.read_unsubscribe_token(url.split("/u/")[1].strip("/")) == (
            ml.id,
            row.member_id,
        )
        assert f"mailto:community-request@{settings.LISTKEEPER_DOMAIN}" in copy["List-Unsubscribe"]
        assert url in copy.get_body(("plain",)).get_content()


def test_it_refuses_mail_for_an_unknown_list_while_the_poster_is_still_connected(mailpath) -> None:
    mailpath.make_list()

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mailpath.post(f"nosuchlist@{settings.LISTKEEPER_DOMAIN}")

    code, _ = refused.value.recipients[f"nosuchlist@{settings.LISTKEEPER_DOMAIN}"]
    assert code == 550


def test_it_holds_a_non_members_post_to_a_members_only_list_and_sends_nothing(mailpath) -> None:
    ml = mailpath.make_list(members=3)
    mailpath.start_worker()

    mailpath.post(ml.address, sender="stranger@example.com", subject="Buy now")

    wait_for(lambda: Post.objects.filter(mailing_list=ml).exists(), what="the post to be stored")
    post = Post.objects.get(mailing_list=ml)
    assert post.status == PostStatus.HELD and post.reason
    assert not Recipient.objects.filter(delivery__post=post).exists()
    members = {f"community.m{i}@example.net" for i in range(3)}
    assert not any(set(m.rcpt_tos) & members for m in mailpath.ses.messages)


def test_it_keeps_copies_in_postfix_while_ses_is_down_and_delivers_them_all_after(mailpath) -> None:
    ml = mailpath.make_list(members=8, posting_policy="open")
    mailpath.start_worker()
    mailpath.ses.stop()
    try:
        mailpath.post(ml.address, subject="While SES was away")
        mailpath.wait_delivered(ml)  # every copy handed to Postfix...
        wait_for(lambda: len(mailpath.queued()) >= 8, what="the copies in Postfix's queue")
        assert mailpath.ses.messages == []  # ...and none of them out yet
    finally:
        mailpath.ses.start()
    mailpath.flush()

    got = mailpath.ses.wait_for(8, timeout=60)
    assert sorted(r for m in got for r in m.rcpt_tos) == sorted(
        f"community.m{i}@example.net" for i in range(8)
    )
    wait_for(lambda: mailpath.queued() == [], what="Postfix's queue to empty")
