"""The public smtpd of the rendered Postfix: list addresses only, looked up live."""

from __future__ import annotations

import smtplib
import time

import pytest
from django.conf import settings

from listkeeper.lists import services
from listkeeper.postfix.instance import PostfixInstance

pytestmark = pytest.mark.e2e


def rcpt(instance: PostfixInstance, *recipients: str) -> dict[str, int]:
    """RCPT TO replies of the public smtpd, by recipient."""
    host, port = instance.options.smtp_listen
    with smtplib.SMTP(host, port, timeout=30) as client:
        client.ehlo("client.example.net")
        assert client.mail("poster@example.net")[0] == 250
        return {r: client.rcpt(r)[0] for r in recipients}


def wait_for_reply(instance: PostfixInstance, recipient: str, code: int, timeout: float = 5) -> int:
    deadline = time.monotonic() + timeout
    while True:
        reply = rcpt(instance, recipient)[recipient]
        if reply == code or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_it_accepts_every_address_of_a_known_list(postfix, transactional_db) -> None:
    services.create_list("community", "lists.example.org", actor="test")
    addresses = [
        "community@lists.example.org",
        "Community@Lists.Example.org",
        "community-request@lists.example.org",
        "community-owner@lists.example.org",
        "community-bounces@lists.example.org",
        "community-bounces+Zm9vYmFy.sig@lists.example.org",
    ]
    assert rcpt(postfix, *addresses) == {a: 250 for a in addresses}


def test_it_refuses_unknown_addresses_in_a_list_domain_with_550(postfix, transactional_db) -> None:
    services.create_list("community", "lists.example.org", actor="test")
    addresses = [
        "nobody@lists.example.org",
        "community+extension@lists.example.org",
        "community-request+x@lists.example.org",
        "community-admin@lists.example.org",
    ]
    assert rcpt(postfix, *addresses) == {a: 550 for a in addresses}


def test_it_refuses_to_relay_to_outside_domains_with_554(postfix, transactional_db) -> None:
    # The test client connects from 127.0.0.1, which is in mynetworks: the
    # public smtpd must not trust it.
    assert "127.0.0.0/8" in settings.REINJECT_NETWORKS
    addresses = ["victim@example.com", "community@lists.example.org.evil.example"]
    assert rcpt(postfix, *addresses) == {a: 554 for a in addresses}


def test_it_accepts_a_list_in_another_domain(postfix, transactional_db) -> None:
    services.create_list("community", "lists.sasalliance.org", actor="test")
    assert rcpt(postfix, "community@lists.sasalliance.org", "nobody@lists.sasalliance.org") == {
        "community@lists.sasalliance.org": 250,
        "nobody@lists.sasalliance.org": 550,
    }


def test_it_follows_lists_created_and_deleted_without_a_restart(postfix, transactional_db) -> None:
    address = "newlist@lists.example.org"
    assert rcpt(postfix, address)[address] == 550
    pid = postfix.master_pid()

    ml = services.create_list("newlist", "lists.example.org", actor="test")
    assert wait_for_reply(postfix, address, 250, timeout=5) == 250

    services.delete_list(ml, actor="test")
    assert wait_for_reply(postfix, address, 550, timeout=5) == 550
    assert postfix.master_pid() == pid
