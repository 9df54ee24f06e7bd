"""Who really sent a post: DKIM, SPF and DMARC checked against a real DNS server.

The DNS server (tests/support/dns.py) runs on 127.0.0.1 and serves the records
each test publishes; the DKIM signatures are made here with a key of this run.
"""

from __future__ import annotations

import pytest

from listkeeper.lists import services
from listkeeper.lists.models import UnauthenticatedAction
from listkeeper.mail import headers as h
from listkeeper.mail import process
from listkeeper.mail.authentication import aligned, authenticate
from listkeeper.mail.models import PostStatus
from tests.support import dkimkeys
from tests.support.mail import outbox

MEMBER = "alice@example.com"


def message(
    author: str = MEMBER, subject: str = "Meeting on Thursday", received: bytes = b""
) -> bytes:
    return (
        received
        + (
            f"From: Alice Example <{author}>\r\n"
            "To: community@lists.example.org\r\n"
            f"Subject: {subject}\r\n"
            "Date: Tue, 14 May 2024 11:12:30 +0200\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.com>\r\n"
            "\r\n"
            "The meeting moves to Thursday.\r\n"
        ).encode()
    )


def postfix_received(ip: str, helo: str = "mail.example.com") -> bytes:
    """The Received field our own Postfix puts on top (POSTFIX_HOSTNAME in the tests)."""
    return (
        f"Received: from {helo} ({helo} [{ip}])\r\n"
        "\tby lists.example.org (Postfix) with ESMTP id 4Q1abc2XyZz9sT7\r\n"
        "\tfor <community@lists.example.org>; Tue, 14 May 2024 09:12:33 +0000 (UTC)\r\n"
    ).encode()


@pytest.fixture
def members(ml):
    services.subscribe(ml, MEMBER, actor="test")
    services.subscribe(ml, "owner@example.org", actor="test", role="owner")
    return ml


@pytest.fixture
def strict_domain(dns):
    """example.com publishes DMARC p=reject and a DKIM key; its SPF allows only 192.0.2.10."""
    dns.txt("_dmarc.example.com", "v=DMARC1; p=reject; rua=mailto:dmarc@example.com")
    dns.txt("example.com", "v=spf1 ip4:192.0.2.10 -all")
    dkimkeys.publish(dns, "example.com")
    return dns


def results_of(post) -> str:
    """Our Authentication-Results field on the stored post, unfolded."""
    block = h.split(bytes(post.raw))[0]
    first = h.field_name(block.fields[0]) + ": " + h.field_value(block.fields[0])
    assert first.startswith("Authentication-Results: lists.example.org;")
    return first


def test_it_accepts_a_members_post_with_a_valid_aligned_dkim_signature(
    members, strict_domain
) -> None:
    post = process.handle_post(
        members, dkimkeys.sign(message(), "example.com"), "alice@example.com"
    )

    assert post.status == PostStatus.ACCEPTED
    header = results_of(post)
    assert "dkim=pass header.d=example.com header.s=sel" in header
    assert "dmarc=pass (p=reject) header.from=example.com" in header


def test_it_holds_a_forged_members_post_when_the_domain_publishes_p_reject(
    members, strict_domain
) -> None:
    post = process.handle_post(members, message(), "spoofer@attacker.example")

    assert post.status == PostStatus.HELD
    assert "does not come from them" in post.reason and "p=reject" in post.reason
    assert "dmarc=fail (p=reject)" in results_of(post)
    assert [n.to for n in outbox()] == [["owner@example.org"]]  # the owner, not the poster


def test_it_holds_a_post_whose_signature_no_longer_verifies(members, strict_domain) -> None:
    signed = dkimkeys.sign(message(), "example.com")
    tampered = signed.replace(b"Thursday.", b"Friday!!.")

    post = process.handle_post(members, tampered, "alice@example.com")

    assert post.status == PostStatus.HELD
    assert "dkim=fail header.d=example.com" in results_of(post)


def test_it_does_not_count_a_signature_by_another_domain(members, strict_domain) -> None:
    dkimkeys.publish(strict_domain, "attacker.example")

    post = process.handle_post(
        members, dkimkeys.sign(message(), "attacker.example"), "x@attacker.example"
    )

    assert post.status == PostStatus.HELD
    assert "dkim=pass header.d=attacker.example" in results_of(post)
    assert "dmarc=fail" in results_of(post)


def test_it_accepts_a_signature_by_a_subdomain_of_the_from_domain(members, strict_domain) -> None:
    dkimkeys.publish(strict_domain, "mail.example.com")

    post = process.handle_post(
        members, dkimkeys.sign(message(), "mail.example.com"), "alice@example.com"
    )

    assert post.status == PostStatus.ACCEPTED


def test_it_rejects_a_forged_post_and_tells_the_envelope_sender_when_the_list_says_so(
    members, strict_domain
) -> None:
    services.update_list(members, actor="test", unauthenticated_action=UnauthenticatedAction.REJECT)

    post = process.handle_post(members, message(), "spoofer@attacker.example")

    assert post.status == PostStatus.REJECTED
    [notice] = outbox()
    assert notice.to == ["spoofer@attacker.example"]  # never the member whose name was used
    assert "does not come from them" in notice.text


def test_it_accepts_a_failing_post_when_the_list_trusts_from_alone(members, strict_domain) -> None:
    services.update_list(members, actor="test", unauthenticated_action=UnauthenticatedAction.ACCEPT)

    assert process.handle_post(members, message(), "x@elsewhere.example").status == (
        PostStatus.ACCEPTED
    )


def test_it_passes_spf_for_the_client_our_postfix_saw(members, strict_domain) -> None:
    post = process.handle_post(
        members, message(received=postfix_received("192.0.2.10")), "alice@example.com"
    )

    assert post.status == PostStatus.ACCEPTED
    assert "spf=pass smtp.mailfrom=example.com" in results_of(post)
    assert "dmarc=pass" in results_of(post)


def test_it_fails_spf_for_a_client_the_domain_does_not_list(members, strict_domain) -> None:
    post = process.handle_post(
        members, message(received=postfix_received("198.51.100.7")), "alice@example.com"
    )

    assert post.status == PostStatus.HELD
    assert "spf=fail smtp.mailfrom=example.com" in results_of(post)


def test_it_ignores_a_received_field_that_our_postfix_did_not_write(members, strict_domain) -> None:
    forged = postfix_received("192.0.2.10").replace(b"by lists.example.org", b"by mx.evil")

    post = process.handle_post(members, message(received=forged), "alice@example.com")

    assert post.status == PostStatus.HELD
    assert "spf=none" in results_of(post)


@pytest.mark.parametrize("policy", ["", "v=DMARC1; p=none"])
def test_it_keeps_todays_behaviour_for_domains_without_an_enforced_policy(
    members, dns, policy
) -> None:
    if policy:
        dns.txt("_dmarc.example.com", policy)

    post = process.handle_post(members, message(), "anyone@elsewhere.example")

    assert post.status == PostStatus.ACCEPTED
    assert post.reason == "alice@example.com is a member of this list"


def test_it_applies_the_organisational_domains_subdomain_policy(members, dns) -> None:
    services.subscribe(members, "bob@news.example.com", actor="test")
    dns.txt("_dmarc.example.com", "v=DMARC1; p=none; sp=quarantine")

    post = process.handle_post(
        members, message(author="bob@news.example.com"), "x@elsewhere.example"
    )

    assert post.status == PostStatus.HELD
    assert "p=quarantine" in post.reason


def test_it_leaves_non_members_to_the_posting_policy(members, strict_domain) -> None:
    post = process.handle_post(members, message(author="eve@example.com"), "eve@example.com")

    assert post.status == PostStatus.HELD
    assert post.reason == "eve@example.com is not a member of this members-only list"


def test_it_holds_rather_than_refuses_when_dns_fails(members, dns) -> None:
    services.update_list(members, actor="test", unauthenticated_action=UnauthenticatedAction.REJECT)
    dns.zone.servfail.add("_dmarc.example.com")

    post = process.handle_post(members, message(), "alice@example.com")

    assert post.status == PostStatus.HELD
    assert "could not check" in post.reason
    assert "dmarc=temperror" in results_of(post)
    assert all(n.to != ["alice@example.com"] for n in outbox())


def test_it_holds_when_the_nameserver_does_not_answer_in_time(members, dns, settings) -> None:
    settings.DNS_TIMEOUT = 0.3
    dns.zone.silent.add("_dmarc.example.com")

    post = process.handle_post(members, message(), "alice@example.com")

    assert post.status == PostStatus.HELD
    assert "dmarc=temperror" in results_of(post)


def test_it_holds_when_the_dkim_key_lookup_fails_under_p_reject(members, strict_domain) -> None:
    strict_domain.zone.servfail.add("sel._domainkey.example.com")

    post = process.handle_post(
        members, dkimkeys.sign(message(), "example.com"), "alice@example.com"
    )

    assert post.status == PostStatus.HELD
    assert "dkim=temperror" in results_of(post)


def test_it_drops_authentication_results_that_claim_to_be_ours(members, strict_domain) -> None:
    forged = b"Authentication-Results: lists.example.org; dmarc=pass header.from=example.com\r\n"

    post = process.handle_post(members, forged + message(), "spoofer@attacker.example")

    assert post.status == PostStatus.HELD
    assert bytes(post.raw).count(b"Authentication-Results:") == 1
    assert "dmarc=fail" in results_of(post)


def test_it_never_raises_on_a_malformed_signature(dns) -> None:
    raw = b"DKIM-Signature: v=1; a=rsa-sha256; d=; b=!!\r\n" + message()

    verdict = authenticate(raw, "alice@example.com")

    assert [s.result for s in verdict.dkim] == ["permerror"]


@pytest.mark.parametrize(
    "a, b, mode, expected",
    [
        ("example.com", "example.com", "s", True),
        ("mail.example.com", "example.com", "r", True),
        ("mail.example.com", "example.com", "s", False),
        ("example.com", "com", "r", False),
        ("badexample.com", "example.com", "r", False),
        ("a.example.com", "b.example.com", "r", False),
    ],
)
def test_it_aligns_domains_relaxed_by_suffix(a, b, mode, expected) -> None:
    assert aligned(a, b, mode) is expected
