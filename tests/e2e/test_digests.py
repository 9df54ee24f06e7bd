"""Digests through the real Postfix and the SES stand-in."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client

from listkeeper.delivery.models import Delivery, DigestIssue, JobState
from listkeeper.lists import services
from listkeeper.lists.models import Status, Subscription
from tests.support.mailpath import parsed
from tests.support.worker import wait_for

pytestmark = pytest.mark.e2e

REGULAR, MIME, PLAIN = "reg@example.net", "mime@example.net", "plain@example.net"
SUBJECTS = [f"Topic {n}" for n in range(1, 6)]


def _three_members(mailpath):
    ml = mailpath.make_list(members=0, posting_policy="open")
    for address, mode in ((REGULAR, "regular"), (MIME, "digest"), (PLAIN, "digest-plain")):
        sub = services.subscribe(ml, address, actor="test").subscription
        # Chosen long ago: the switch has taken effect.
        Subscription.objects.filter(id=sub.id).update(delivery=mode)
    return ml


def _five_posts(mailpath, ml) -> None:
    for n, subject in enumerate(SUBJECTS):
        # One at a time, so the order they are accepted in is known.
        mailpath.post(ml.address, subject=subject, body=f"Body of post {n + 1}.\n")
        mailpath.wait_delivered(ml, count=n + 1)


def _unsubscribe_path(data: bytes) -> str:
    url = parsed(data)["List-Unsubscribe"].split("<", 1)[1].split(">", 1)[0]
    return "/" + url.split("/", 3)[3]


def test_regular_and_digest_members_each_get_every_post_once(mailpath) -> None:
    ml = _three_members(mailpath)
    mailpath.start_worker()
    _five_posts(mailpath, ml)
    regular = mailpath.ses.wait_for(5)
    assert Counter(r for m in regular for r in m.rcpt_tos) == {REGULAR: 5}

    mailpath.ses.clear()
    call_command("digests", "send", "--now")
    wait_for(
        lambda: Delivery.objects.filter(digest__mailing_list=ml, state=JobState.DONE).count() == 2,
        what="both digest deliveries to finish",
    )
    got = mailpath.ses.wait_for(2)
    assert sorted(r for m in got for r in m.rcpt_tos) == [MIME, PLAIN]
    [mime] = [m for m in got if m.rcpt_tos == [MIME]]
    [plain] = [m for m in got if m.rcpt_tos == [PLAIN]]
    issue = DigestIssue.objects.get(mailing_list=ml)
    assert (issue.volume, issue.number, issue.posts) == (1, 1, 5)

    # The MIME digest: TOC, a multipart/digest of five message/rfc822 parts in order, footer.
    msg = parsed(mime.data)
    assert msg["Subject"] == "Community Digest, Vol 1, Issue 1"
    assert msg.get_content_type() == "multipart/mixed"
    toc, digest, footer = msg.iter_parts()
    assert digest.get_content_type() == "multipart/digest"
    posts = list(digest.iter_parts())
    assert [p.get_content_type() for p in posts] == ["message/rfc822"] * 5
    inner = [p.get_payload(0) for p in posts]
    assert [str(m["Subject"]) for m in inner] == SUBJECTS
    assert [m.get_content().strip() for m in inner] == [f"Body of post {n}." for n in range(1, 6)]
    assert all("Unsubscribe:" not in m.get_content() for m in inner)
    # Where the list keeps an archive, each post carries its permalink.
    archived = [str(m["Archived-At"]) for m in inner]
    assert len(set(archived)) == 5 and all("/archive/" in a or "http" in a for a in archived)
    assert msg["List-Archive"] is not None
    toc_lines = toc.get_content().splitlines()
    assert [line.strip() for line in toc_lines if re.match(r"\s+\d\. ", line)] == [
        f"{n}. Topic {n} (Alice Example)" for n in range(1, 6)
    ]
    # Personalised like a post: one-click URL in footer and headers, VERP sender, List-Id.
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = _unsubscribe_path(mime.data)
    assert path in footer.get_content()
    assert mime.mail_from.startswith("community-bounces+")
    assert msg["List-Id"] == "Community <community.lists.example.org>"

    # The plain digest: RFC 1153 separators around the five posts.
    text = parsed(plain.data)
    assert text.get_content_type() == "text/plain"
    lines = text.get_content().splitlines()
    toc_end = lines.index("-" * 70)
    assert [line for line in lines if line.startswith("Subject: ")] == [
        f"Subject: {s}" for s in SUBJECTS
    ]
    assert lines.count("-" * 30) == 6  # after each post and after the footer
    assert lines[toc_end + 1] == "" and lines[toc_end + 2].startswith("Date: ")
    end = lines.index("End of Community Digest, Vol 1, Issue 1")
    assert lines[end + 1] == "*" * len(lines[end])
    assert parsed(plain.data)["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [line for line in lines if line.startswith("Archived-At: ")] == [
        f"Archived-At: {a}" for a in archived
    ]

    # One click from the digest unsubscribes that member, and the next issue skips them.
    response = Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Subscription.objects.get(member__key=MIME).status == Status.UNSUBSCRIBED
    mailpath.ses.clear()
    mailpath.post(ml.address, subject="Sixth")
    mailpath.wait_delivered(ml, count=6)
    call_command("digests", "send", "--now")
    got = mailpath.ses.wait_for(2)  # the regular copy and one plain digest
    assert sorted(r for m in got for r in m.rcpt_tos) == [PLAIN, REGULAR]


def test_a_worker_killed_during_a_digest_run_leaves_each_member_one_digest(
    mailpath, tmp_path
) -> None:
    import signal

    from django.conf import settings

    from listkeeper.delivery.models import Recipient, RecipientState
    from listkeeper.mail.models import Post
    from tests.support import proc
    from tests.support.proxy import FreezingProxy

    members = 24
    ml = mailpath.make_list(members=0, posting_policy="open")
    everyone = [f"d{n}@example.net" for n in range(members)]
    for n, address in enumerate(everyone):
        sub = services.subscribe(ml, address, actor="test").subscription
        mode = "digest" if n % 2 else "digest-plain"
        Subscription.objects.filter(id=sub.id).update(delivery=mode)
    for subject in SUBJECTS[:3]:
        mailpath.post(ml.address, subject=subject)
    wait_for(lambda: Post.objects.filter(mailing_list=ml).count() == 3, what="three posts")
    call_command("digests", "send", "--now")
    sent = Recipient.objects.filter(delivery__digest__mailing_list=ml, state=RecipientState.SENT)

    proxy = FreezingProxy(settings.REINJECT_HOST)
    env = {
        "REINJECT_HOST": f"127.0.0.1:{proxy.port}",
        "SES_MAX_SEND_RATE": "8",
        "WORKER_STALE_AFTER": "2",
        "WORKER_CONNECTIONS": "2",
    }
    first = proc.start("worker", log=tmp_path / "first.log", **env)
    try:
        wait_for(lambda: len(mailpath.ses.messages) >= 6, what="the digests to be under way")
        # From here Postfix gets nothing more; the worker still hears every reply.
        proxy.freeze()
        seen: list[tuple[int, int]] = []

        def settled() -> bool:
            seen.append((sent.count(), len(mailpath.ses.messages)))
            return len(seen) > 10 and len(set(seen[-10:])) == 1 and seen[-1][0] == seen[-1][1]

        wait_for(settled, what="what Postfix accepted to be recorded and relayed")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
        proxy.close()
    assert sent.count() < members, "the worker finished before it was killed"
    assert Recipient.objects.filter(
        delivery__digest__mailing_list=ml, state=RecipientState.CLAIMED
    ).exists()

    host, port = settings.REINJECT_HOST
    # A longer stale time for the survivor: on a loaded machine a slow heartbeat
    # must not make it count itself dead and set its own claims aside.
    survivor = {**env, "REINJECT_HOST": f"{host}:{port}", "WORKER_STALE_AFTER": "6"}
    second = proc.start("worker", log=tmp_path / "second.log", **survivor)
    try:
        wait_for(
            lambda: (
                Delivery.objects.filter(digest__mailing_list=ml, state=JobState.DONE).count() == 2
            ),
            timeout=60,
            what="both digest deliveries to finish",
        )
        got = mailpath.ses.wait_for(members, timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    received = Counter(r for m in got for r in m.rcpt_tos)
    assert received == Counter(everyone), (tmp_path / "second.log").read_text()
