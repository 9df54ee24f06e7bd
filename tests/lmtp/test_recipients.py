from __future__ import annotations

import pytest

from listkeeper.lmtp.handler import check_recipient

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_refuses_an_unknown_list_when_postfix_names_the_recipient(
    community, lmtp_server
) -> None:
    client = lmtp_server.connect()
    client.command("MAIL FROM:<alice@example.com>")

    assert client.command("RCPT TO:<nosuchlist@lists.example.org>").startswith("550 5.1.1")
    assert client.command("RCPT TO:<community-admin@lists.example.org>").startswith("550 5.1.1")
    assert client.command("RCPT TO:<community@lists.example.org>").startswith("250")
    assert client.command("RCPT TO:<community-bounces+abc@lists.example.org>").startswith("250")


def test_it_refuses_sub_addresses_other_than_bounce_tokens(community) -> None:
    assert check_recipient("community+x@lists.example.org").startswith("550 5.1.1")
    assert check_recipient("community-request@lists.example.org").startswith("250")
