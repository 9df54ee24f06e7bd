"""After Postfix said 250, a post ends delivered, held, or refused with our own notice.

Every post goes in through the real Postfix's public smtpd and our LMTP server;
notices leave through Postfix to the strict SES stand-in, which refuses any
identity outside the list domain (so a Postfix null-sender bounce would show up
in `ses.replies`, never as a message).
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

import pytest
from django.conf import settings

from listkeeper.lists import services
from listkeeper.lists.models import Ban, MailingList, Role
from listkeeper.lmtp.handler import LMTPHandler
from listkeeper.lmtp.server import protocol
from listkeeper.mail.models import InboundMessage, Post, PostStatus
from tests.support import dkimkeys
from tests.support.mailpath import MailPath, parsed
from tests.support.servers import ServerThread
from tests.support.worker import WorkerThread, wait_for

pytestmark = pytest.mark.e2e

OWNER = "chair@example.net"


@pytest.fixture(autouse=True)
def _mail_into_the_ledger(settings):
    # Our own notices take the real path: ledger, worker, Postfix, SES stand-in.
    settings.EMAIL_BACKEND = "listkeeper.delivery.backend.LedgerEmailBackend"


def make_list(path: MailPath, **changes) -> MailingList:
    ml = path.make_list(members=2, **changes)
    services.subscribe(ml, OWNER, actor="test", role=Role.OWNER)
    return ml


def send(raw: bytes, sender: str, to: str) -> None:
    with smtplib.SMTP(*settings.SMTP_LISTEN, timeout=60) as client:
        client.sendmail(sender, [to], raw)


def message(
    sender: str = "alice@example.com",
    to: str = "community@lists.example.org",
    subject: str = "Hello",
    body: str = "Hello, everyone.\n",
    extra: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Alice Example <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}.{id(msg)}@example.com>"
    # Postfix adds a Date to a message without one, which would break a
    # signature that covers Date: as a poster's mail server would, send one.
    msg["Date"] = formatdate()
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def the_post(ml: MailingList) -> Post:
    wait_for(lambda: Post.objects.filter(mailing_list=ml).exists(), 60, "the post to be stored")
    return Post.objects.get(mailing_list=ml)


def notice_to(path: MailPath, rcpt: str, subject: str) -> EmailMessage:
    def found() -> list:
        return [
            m
            for m in list(path.ses.messages)
            if rcpt in m.rcpt_tos and subject in str(m.message["Subject"])
        ]

    wait_for(lambda: bool(found()), 60, f"{subject!r} to {rcpt} at the SES stand-in")
    [received] = found()
    assert received.mail_from  # our own notice, never a null-sender bounce
    return parsed(received.data)


def members_got_nothing(path: MailPath, ml: MailingList) -> bool:
    members = {f"{ml.local_part}.m{i}@example.net" for i in range(2)}
    return not any(set(m.rcpt_tos) & members for m in path.ses.messages)


def settled(path: MailPath) -> None:
    """Postfix's queue is empty and SES refused nothing (no bounce tried to leave)."""
    wait_for(lambda: path.queued() == [], 60, "Postfix's queue to empty")
    assert path.ses.replies == []


# The refusals after DATA --------------------------------------------------------


def test_a_post_the_smtpd_accepted_at_the_size_limit_is_delivered(mailpath) -> None:
    ml = make_list(mailpath, max_message_size=settings.MAX_MESSAGE_SIZE, posting_policy="open")
    mailpath.start_worker()
    head = message(subject="Big one", body="")
    # Just under what the public smtpd accepts; Postfix's own Received line
    # pushes what LMTP receives over the limit (it answered 552 before).
    filler = settings.MAX_MESSAGE_SIZE - len(head) - 200
    raw = head + (b"x" * 998 + b"\r\n") * (filler // 1000)

    send(raw, "alice@example.com", ml.address)

    post = the_post(ml)
    assert post.status == PostStatus.ACCEPTED, post.reason
    assert post.size <= settings.MAX_MESSAGE_SIZE
    wait_for(lambda: len(mailpath.copies_to(f"{ml.local_part}.m1@example.net")) == 1, 120)
    settled(mailpath)


def test_a_post_over_the_lists_limit_is_refused_with_our_notice(mailpath) -> None:
    ml = make_list(mailpath, max_message_size=2000, posting_policy="open")
    mailpath.start_worker()

    send(message(subject="Too long", body="x" * 5000), "alice@example.com", ml.address)

    assert the_post(ml).status == PostStatus.REJECTED
    notice = notice_to(mailpath, "alice@example.com", "was not delivered")
    assert notice["From"].addresses[0].addr_spec == ml.suffixed("owner")
    assert "this list accepts at most" in notice.get_body(("plain",)).get_content()
    settled(mailpath)
    assert members_got_nothing(mailpath, ml)


def test_a_post_from_a_banned_address_is_refused_with_our_notice(mailpath) -> None:
    ml = make_list(mailpath, posting_policy="open")
    Ban.objects.create(mailing_list=ml, pattern="alice@example.com")
    mailpath.start_worker()

    send(message(subject="Banned"), "alice@example.com", ml.address)

    assert the_post(ml).status == PostStatus.REJECTED
    notice = notice_to(mailpath, "alice@example.com", "was not delivered")
    assert "banned from this list" in notice.get_body(("plain",)).get_content()
    settled(mailpath)


def test_a_post_refused_by_the_posting_policy_gets_our_notice(mailpath) -> None:
    ml = make_list(mailpath, nonmember_action="reject")
    mailpath.start_worker()

    send(
        message(sender="stranger@example.com", subject="Hi all"), "stranger@example.com", ml.address
    )

    assert the_post(ml).status == PostStatus.REJECTED
    notice_to(mailpath, "stranger@example.com", "was not delivered")
    settled(mailpath)
    assert members_got_nothing(mailpath, ml)


def test_a_looping_post_waits_in_the_held_queue(mailpath) -> None:
    ml = make_list(mailpath, posting_policy="open")
    mailpath.start_worker()

    send(message(subject="Round again", extra={"X-Loop": ml.address}), "x@example.com", ml.address)

    post = the_post(ml)
    assert post.status == PostStatus.HELD and "mail loop" in post.reason
    notice_to(mailpath, OWNER, "waiting for moderation")
    settled(mailpath)
    assert members_got_nothing(mailpath, ml)


def test_mail_for_a_list_deleted_before_delivery_is_answered_by_us(
    postfix, ses, transactional_db
) -> None:
    # No LMTP server yet: Postfix accepts the post and keeps it, as it would
    # while lmtpd restarts. The list is deleted meanwhile.
    path = MailPath(postfix, ses)
    ml = path.make_list(name="gone", members=1)
    send(message(to=ml.address, subject="Anyone there"), "alice@example.com", ml.address)
    wait_for(lambda: len(path.queued()) == 1, 60, "Postfix to keep the post")
    ml.delete()

    handler = LMTPHandler()
    server = ServerThread(lambda: protocol(handler), *settings.LMTP_LISTEN).start()
    worker = WorkerThread(settings.REINJECT_HOST[1]).start()
    try:
        path.flush()
        notice = notice_to(path, "alice@example.com", "was not delivered")
        assert notice["From"].addresses[0].addr_spec == settings.DEFAULT_FROM_EMAIL
        assert "gone@lists.example.org" in notice.get_body(("plain",)).get_content()
        settled(path)
    finally:
        worker.stop()
        server.stop()
        handler.shutdown()


# Automatic and spoofed mail ---------------------------------------------------------


@pytest.mark.parametrize(
    "sender, extra",
    [("", {}), ("alice@example.com", {"Auto-Submitted": "auto-replied"})],
    ids=["null-sender", "auto-submitted"],
)
def test_automatic_mail_is_held_and_never_answered(mailpath, sender, extra) -> None:
    ml = make_list(mailpath, posting_policy="open")
    mailpath.start_worker()

    send(message(subject="Out of office", extra=extra), sender, ml.address)

    post = the_post(ml)
    assert post.status == PostStatus.HELD and "automatic" in post.reason
    notice_to(mailpath, OWNER, "waiting for moderation")
    settled(mailpath)
    assert [m.rcpt_tos for m in mailpath.ses.messages] == [[OWNER]]


def test_a_forged_members_post_is_held_and_a_signed_one_delivered(mailpath, dns) -> None:
    ml = make_list(mailpath)
    services.subscribe(ml, "alice@example.com", actor="test")
    dns.txt("_dmarc.example.com", "v=DMARC1; p=reject")
    dns.txt("example.com", "v=spf1 ip4:192.0.2.10 -all")  # not 127.0.0.1, where we send from
    dkimkeys.publish(dns, "example.com")
    mailpath.start_worker()

    send(message(subject="Forged"), "spoofer@attacker.example", ml.address)
    send(
        dkimkeys.sign(message(subject="Genuine"), "example.com"),
        "alice@example.com",
        ml.address,
    )

    wait_for(lambda: Post.objects.filter(mailing_list=ml).count() == 2, 60, "both posts")
    forged = Post.objects.get(mailing_list=ml, subject="Forged")
    genuine = Post.objects.get(mailing_list=ml, subject="Genuine")
    assert forged.status == PostStatus.HELD and "p=reject" in forged.reason
    assert "spf=none smtp.mailfrom=attacker.example" in forged.authentication
    assert "dmarc=fail" in forged.authentication
    assert genuine.status == PostStatus.ACCEPTED
    assert "dkim=pass header.d=example.com" in genuine.authentication
    wait_for(lambda: len(mailpath.copies_to(f"{ml.local_part}.m0@example.net")) == 1, 60)
    settled(mailpath)
    copies = mailpath.copies_to(f"{ml.local_part}.m0@example.net")
    assert [str(parsed(c.data)["Subject"]) for c in copies] == ["Genuine"]
    assert InboundMessage.objects.count() == 0


def test_a_notice_keeps_a_tricky_list_name_whole_through_postfix(mailpath) -> None:
    name = 'Chess <Club>, "Friday" & Grüße'
    ml = make_list(mailpath, nonmember_action="reject", display_name=name)
    mailpath.start_worker()

    send(message(sender="stranger@example.com", subject="Hi"), "stranger@example.com", ml.address)

    notice = notice_to(mailpath, "stranger@example.com", "was not delivered")
    assert str(notice["Subject"]) == f"Your message to {name} was not delivered"
    [sender] = notice["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (name, ml.suffixed("owner"))
    settled(mailpath)
