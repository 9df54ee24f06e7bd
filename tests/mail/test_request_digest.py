"""`digest on|plain|off` mailed to LIST-request@."""

from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Subscription
from listkeeper.mail import process
from listkeeper.mail.commands import find_commands
from tests.mail.conftest import outbox
from tests.mail.test_requests import request

pytestmark = pytest.mark.django_db


def _sub(ml, address: str = "dana@example.com") -> Subscription:
    return Subscription.objects.get(mailing_list=ml, member__key=address)


def test_it_reads_the_digest_commands() -> None:
    assert find_commands("digest on", "") == ["digest on"]
    assert find_commands("Re: digest", "") == ["digest on"]
    assert find_commands("", "digest plain\nthanks") == ["digest plain"]
    assert find_commands("DIGEST OFF", "") == ["digest off"]
    assert find_commands("digest sometimes", "") == []


@pytest.mark.parametrize(("word", "mode"), [("on", "digest"), ("plain", "digest-plain")])
def test_digest_by_mail_waits_for_the_next_issue_and_says_so(ml, word, mode) -> None:
    services.subscribe(ml, "dana@example.com", actor="test")
    result = process.handle_request(ml, request(f"digest {word}"), "dana@example.com")
    assert result == f"dana@example.com delivery {mode} (next-digest)"
    sub = _sub(ml)
    assert (sub.delivery, sub.delivery_next) == ("regular", mode)
    [mail] = outbox()
    assert mail.to == ["dana@example.com"]
    assert "From the next digest on, dana@example.com gets" in mail.text
    entry = AuditEntry.objects.filter(action="delivery", member=sub.member).get()
    assert entry.actor == "email:self" and entry.details["new"] == mode


def test_digest_off_for_a_digest_member(ml) -> None:
    sub = services.subscribe(ml, "dana@example.com", actor="test").subscription
    sub.delivery = "digest"
    sub.save()
    process.handle_request(ml, request("digest off"), "dana@example.com")
    assert _sub(ml).delivery_next == "regular"


def test_digest_from_a_non_member_changes_nothing(ml) -> None:
    result = process.handle_request(ml, request("digest on"), "dana@example.com")
    assert result == "digest: dana@example.com is not subscribed"
    assert not Subscription.objects.filter(member__key="dana@example.com").exists()
    [mail] = outbox()
    assert "is not subscribed" in mail.text


def test_digest_on_a_list_without_digests_is_refused(ml) -> None:
    services.subscribe(ml, "dana@example.com", actor="test")
    services.update_list(ml, actor="test", digests_enabled=False)
    result = process.handle_request(ml, request("digest on"), "dana@example.com")
    assert result.startswith("digest refused for dana@example.com")
    assert _sub(ml).delivery_next == ""
    [mail] = outbox()
    assert "sends no digests" in mail.text


def test_help_names_the_digest_commands_only_where_digests_are_allowed(ml) -> None:
    process.handle_request(ml, request("help"), "dana@example.com")
    services.update_list(ml, actor="test", digests_enabled=False)
    process.handle_request(ml, request("help"), "dana@example.com")
    with_digests, without = outbox()
    assert [line.split()[:2] for line in with_digests.text.splitlines() if "digest " in line][
        :3
    ] == [
        ["digest", "on"],
        ["digest", "plain"],
        ["digest", "off"],
    ]
    assert "digest on" not in without.text
