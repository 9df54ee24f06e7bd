from __future__ import annotations

import pytest

from listkeeper.lmtp.handler import check_recipient

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_takes_any_address_in_a_domain_it_serves_since_postfix_checked_it_already(
    community, lmtp_server
) -> None:
    # Postfix looked the recipient up while the poster was connected; a 550
    # here (a list deleted in between) would become a null-sender bounce.
    # Such mail is taken and answered with our own notice after DATA.
    client = lmtp_server.connect()
    client.command("MAIL FROM:<alice@example.com>")

    assert client.command("RCPT TO:<nosuchlist@lists.example.org>").startswith("250")
    assert client.command("RCPT TO:<community@lists.example.org>").startswith("250")
    assert client.command("RCPT TO:<community-bounces+abc@lists.example.org>").startswith("250")


def test_it_refuses_addresses_in_domains_it_does_not_serve(community) -> None:
    assert check_recipient("community@elsewhere.example").startswith("550 5.1.1")
    assert check_recipient("nobody").startswith("550 5.1.1")
    assert check_recipient("community-request@lists.example.org").startswith("250")
