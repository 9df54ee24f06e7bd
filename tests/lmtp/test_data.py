from __future__ import annotations

import pytest

from listkeeper.delivery.models import Delivery
from listkeeper.lists import services
from listkeeper.lmtp import handler as lmtp_handler
from listkeeper.mail.models import InboundKind, InboundMessage, Post
from tests.support.lmtp import database_down

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = (
    b"From: alice@example.com\r\nTo: community@lists.example.org\r\nSubject: Hi\r\n\r\nHello.\r\n"
)


def test_it_answers_once_per_recipient_after_data(community, fake_process, lmtp_server) -> None:
    services.subscribe(community, "bob@example.net", actor="test")
    client = lmtp_server.connect()

    replies = client.send(
        "alice@example.com",
        [
            "community@lists.example.org",
            "community-owner@lists.example.org",
            "community-bounces+tok@lists.example.org",
        ],
        MESSAGE,
    )

    assert [r[:3] for r in replies] == ["250", "250", "250"]
    assert [c[0] for c in fake_process.calls] == ["post", "owner"]
    assert Delivery.objects.get().total == 1
    # The mail layer keeps -owner and -request mail (one writer); the LMTP edge does not.
    assert InboundMessage.objects.filter(kind=InboundKind.OWNER).count() == 0
    bounce = InboundMessage.objects.get(kind=InboundKind.BOUNCE)
    assert (bounce.kind, bounce.recipient) == (
        InboundKind.BOUNCE,
        "community-bounces+tok@lists.example.org",
    )
    assert bytes(bounce.raw).startswith(b"From: alice@example.com")


def test_it_passes_the_null_sender_on_as_empty(community, fake_process, lmtp_server) -> None:
    client = lmtp_server.connect()

    assert client.send("", ["community-bounces@lists.example.org"], MESSAGE)[0].startswith("250")

    assert InboundMessage.objects.get().sender == ""


def test_it_never_refuses_a_message_over_a_lists_size_limit_after_data(
    community, fake_process, lmtp_server
) -> None:
    # Postfix said 250 to the poster already: a 552 now would become a
    # null-sender bounce. The size rule rejects it with our own notice instead.
    services.create_list("big", "lists.example.org", actor="test")
    services.update_list(community, actor="test", max_message_size=2000)
    client = lmtp_server.connect()
    large = MESSAGE + b"x" * 70 + b"\r\n"
    large = large * 40

    replies = client.send(
        "alice@example.com", ["community@lists.example.org", "big@lists.example.org"], large
    )

    assert [r[:3] for r in replies] == ["250", "250"]
    assert [c[1] for c in fake_process.calls] == [
        "community@lists.example.org",
        "big@lists.example.org",
    ]


def test_it_says_try_later_and_keeps_nothing_half_done_when_the_database_is_down(
    community, fake_process, lmtp_server
) -> None:
    client = lmtp_server.connect()
    client.command("MAIL FROM:<alice@example.com>")
    assert client.command("RCPT TO:<community@lists.example.org>").startswith("250")
    client.command("RSET")

    with database_down():
        assert client.command("MAIL FROM:<alice@example.com>").startswith("250")
        assert client.command("RCPT TO:<community@lists.example.org>").startswith("451 4.3.0")
        client.command("RSET")

    assert client.send("alice@example.com", ["community@lists.example.org"], MESSAGE)[0].startswith(
        "250"
    )


def test_it_says_try_later_when_storing_fails_after_the_recipient_was_accepted(
    community, fake_process, monkeypatch
) -> None:
    def broken(ml, raw, sender, verdict=None):  # type: ignore[no-untyped-def]
        Post.objects.create(mailing_list=ml, sender=sender, raw=raw, status="accepted")
        raise lmtp_handler.DatabaseError("disk full")

    monkeypatch.setattr(fake_process, "handle_post", broken)

    assert lmtp_handler.deliver(MESSAGE, "a@example.com", ["community@lists.example.org"])[
        0
    ].startswith("451 4.3.0")
    assert not Post.objects.exists()  # rolled back: Postfix will bring it again


def test_it_keeps_serving_after_a_bug_in_processing(
    community, fake_process, lmtp_server, monkeypatch
) -> None:
    monkeypatch.setattr(fake_process, "handle_post", lambda *a: 1 / 0)
    client = lmtp_server.connect()

    assert client.send("alice@example.com", ["community@lists.example.org"], MESSAGE)[0].startswith(
        "451 4.3.0"
    )
    assert client.send("alice@example.com", ["community-request@lists.example.org"], MESSAGE)[
        0
    ].startswith("250")
