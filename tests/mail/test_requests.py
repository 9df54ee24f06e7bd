from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Ban, Source, Status, Subscription
from listkeeper.mail import process
from listkeeper.mail.commands import find_commands
from listkeeper.mail.models import InboundMessage
from tests.support.mail import outbox


def request(
    subject: str = "", body: str = "", sender: str = "dana@example.com", extra: str = ""
) -> bytes:
    return (
        f"From: Dana Doe <{sender}>\nTo: community-request@lists.example.org\n"
        f"Subject: {subject}\nMessage-ID: <req-1@example.com>\n{extra}\n{body}"
    ).encode()


def status_of(ml, address: str) -> str | None:
    sub = Subscription.objects.filter(mailing_list=ml, member__key=address).first()
    return sub.status if sub else None


def test_it_subscribes_pending_and_mails_a_confirmation_link(ml) -> None:
    result = process.handle_request(ml, request("subscribe"), "dana@example.com")

    assert result == "confirmation sent to dana@example.com"
    sub = Subscription.objects.get(mailing_list=ml, member__key="dana@example.com")
    assert (sub.status, sub.source, sub.member.name) == (Status.PENDING, Source.EMAIL, "Dana Doe")
    [mail] = outbox()
    assert mail.to == ["dana@example.com"]
    token = re.search(r"/confirm/([^/\s]+)/", mail.text).group(1)
    assert tokens.read_confirm_token(token) == (ml.id, "dana@example.com")
    assert "Confirm your subscription to Community" == str(mail.message["Subject"])


def test_it_sends_one_confirmation_an_hour_however_often_asked(ml) -> None:
    for _ in range(3):
        process.handle_request(ml, request("subscribe"), "dana@example.com")

    assert len(outbox()) == 1
    Subscription.objects.filter(member__key="dana@example.com").update(
        updated=timezone.now() - timedelta(minutes=61)
    )
    assert (
        process.handle_request(ml, request("subscribe"), "dana@example.com")
        == "confirmation sent to dana@example.com"
    )
    assert process.handle_request(ml, request("subscribe"), "dana@example.com").endswith(
        "not sent again"
    )
    assert len(outbox()) == 2


def test_it_says_so_when_already_subscribed(ml) -> None:
    services.subscribe(ml, "dana@example.com", actor="test")

    result = process.handle_request(ml, request("Subscribe"), "dana@example.com")

    assert result == "dana@example.com is already subscribed"
    assert status_of(ml, "dana@example.com") == Status.ACTIVE
    assert "already subscribed" in outbox()[0].text


def test_it_unsubscribes_at_once_and_acknowledges(ml) -> None:
    services.subscribe(ml, "dana@example.com", actor="test")

    result = process.handle_request(ml, request(body="unsubscribe\n"), "dana@example.com")

    assert result == "dana@example.com unsubscribed"
    assert status_of(ml, "dana@example.com") == Status.UNSUBSCRIBED
    entry = AuditEntry.objects.get(action="unsubscribe")
    assert entry.actor == "email:self" and "-request" in entry.details["reason"]
    assert entry.member.email == "dana@example.com"
    [mail] = outbox()
    assert mail.to == ["dana@example.com"] and "no longer subscribed" in mail.text


def test_it_unsubscribes_the_envelope_sender_when_the_from_is_not_subscribed(ml) -> None:
    services.subscribe(ml, "dana+lists@example.com", actor="test")

    process.handle_request(ml, request("unsubscribe"), "dana+lists@example.com")

    assert status_of(ml, "dana+lists@example.com") == Status.UNSUBSCRIBED


def test_it_tells_a_stranger_there_was_nothing_to_unsubscribe(ml) -> None:
    result = process.handle_request(ml, request("Re: unsubscribe"), "dana@example.com")

    assert result == "unsubscribe: dana@example.com is not subscribed"
    assert "is not subscribed to this list" in outbox()[0].text


@pytest.mark.parametrize(
    "subject, body", [("help", ""), ("", "help\n"), ("what is this?", "Hello, how do I join?\n")]
)
def test_it_sends_help_for_help_and_for_mail_without_a_command(ml, subject, body) -> None:
    result = process.handle_request(ml, request(subject, body), "dana@example.com")

    assert result == "help sent to dana@example.com"
    [mail] = outbox()
    assert "community-request@lists.example.org" in mail.text and "unsubscribe" in mail.text


def test_it_reads_commands_from_the_first_body_lines_only() -> None:
    assert find_commands("", "\n  subscribe\nhelp\nthanks!\nunsubscribe\n") == ["subscribe", "help"]
    assert find_commands("Re: Leave", "> unsubscribe\n") == ["unsubscribe"]
    assert find_commands("", "-- \nunsubscribe") == []


def test_it_refuses_subscription_requests_for_a_private_list(ml) -> None:
    services.update_list(ml, actor="test", public=False)

    process.handle_request(ml, request("subscribe"), "dana@example.com")

    assert status_of(ml, "dana@example.com") is None
    assert "does not take subscription requests by email" in outbox()[0].text


@pytest.mark.parametrize("extra", ["Auto-Submitted: auto-replied", "Precedence: junk"])
def test_it_ignores_automatic_mail(ml, extra) -> None:
    result = process.handle_request(ml, request("subscribe", extra=extra), "dana@example.com")

    assert result.startswith("ignored: the message is")
    assert status_of(ml, "dana@example.com") is None
    assert outbox() == []


def test_it_ignores_banned_addresses(ml) -> None:
    Ban.objects.create(mailing_list=None, pattern="*@example.com")

    assert (
        process.handle_request(ml, request("subscribe"), "dana@example.com")
        == "ignored: dana@example.com is banned"
    )
    assert status_of(ml, "dana@example.com") is None


def test_it_answers_no_robot(ml) -> None:
    raw = request("help", sender="MAILER-DAEMON@mx.example.com")

    process.handle_request(ml, raw, "")

    assert outbox() == []


def test_it_keeps_the_request_and_what_came_of_it(ml) -> None:
    raw = request("subscribe")

    process.handle_request(ml, raw, "dana@example.com")

    kept = InboundMessage.objects.get()
    assert (kept.kind, kept.recipient, kept.sender) == (
        "request",
        "community-request@lists.example.org",
        "dana@example.com",
    )
    assert bytes(kept.raw) == raw
    assert kept.result == "confirmation sent to dana@example.com" and kept.processed is not None
