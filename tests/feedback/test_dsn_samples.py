"""Every sample in tests/data/dsn/, against what tests/data/dsn/expected.toml says it is."""

from __future__ import annotations

import email
import tomllib
from typing import Any

import pytest

from listkeeper.feedback import dsn
from listkeeper.feedback.models import DeliveryEvent
from listkeeper.lists.models import Status, Subscription, Suppression

from .conftest import DSN_DIR, ledger_row, store_report

EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((DSN_DIR / "expected.toml").read_text())


def test_every_sample_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in DSN_DIR.glob("*.eml"))
    assert len(EXPECTED) >= 15


def outcome(sub: Subscription) -> str:
    sub.refresh_from_db()
    if Suppression.objects.filter(key=sub.member.key).exists():
        return f"{sub.status}, suppressed"  # never from one mailed report
    if sub.status == Status.DISABLED:
        return "disabled"
    if sub.status == Status.UNSUBSCRIBED:
        return "unsubscribed"
    return {0.0: "unchanged", 1.0: "scored"}.get(sub.bounce_score, f"score {sub.bounce_score}")


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_it_reads_the_sample(sample: str) -> None:
    msg = email.message_from_bytes((DSN_DIR / sample).read_bytes())

    found = [[r.email, r.kind or "", r.status] for r in dsn.failures(msg)]

    expected = EXPECTED[sample]["failed"]
    if isinstance(expected, str):  # "COUNT KIND STATUS", for long lists
        count, kind, status = expected.split()
        assert len(found) == int(count)
        assert {(k, s) for _, k, s in found} == {(kind, status)}
    else:
        assert found == expected


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_it_acts_on_the_sample_at_its_verp_address(members, delivery, sample: str) -> None:
    email_ = EXPECTED[sample]["member"]
    inbound = store_report(members, sample, ledger_row(delivery, email_))

    result = dsn.process_inbound(inbound)

    subs = {
        s.member.email: s
        for s in Subscription.objects.filter(mailing_list=members).select_related("member")
    }
    assert outcome(subs[email_]) == EXPECTED[sample]["outcome"], result
    assert {outcome(s) for a, s in subs.items() if a != email_} == {"unchanged"}
    inbound.refresh_from_db()
    assert inbound.processed is not None and inbound.result == result
    assert not result.startswith("error"), result


@pytest.mark.parametrize("sample", sorted(EXPECTED))
def test_it_changes_nothing_for_the_sample_without_a_token(members, delivery, sample) -> None:
    inbound = store_report(members, sample)

    dsn.process_inbound(inbound)

    statuses = Subscription.objects.filter(mailing_list=members).values_list(
        "status", "bounce_score"
    )
    assert set(statuses) == {(Status.ACTIVE, 0.0)}
    assert Suppression.objects.count() == 0 and DeliveryEvent.objects.count() == 0


def test_it_stores_a_long_result_whole(members, delivery) -> None:
    inbound = store_report(
        members, "many-recipients.eml", ledger_row(delivery, "carol@example.net")
    )

    dsn.process_inbound(inbound)

    inbound.refresh_from_db()
    assert len(inbound.result) > 300
    for i in range(24):
        address = f"former.member.number{i:02d}.with-a-long-name@retired-domain-{i:02d}.example.org"
        assert f"{address}: not acted on" in inbound.result
    assert inbound.unproven == (
        "reports former.member.number00.with-a-long-name@retired-domain-00.example.org"
        " and 23 other addresses, but its VERP token was made for carol@example.net"
    )


def test_it_decodes_an_unknown_charset_with_replacement() -> None:
    assert dsn.decode(b"Gr\xc8und", "ansi_x3.110-1983") == "Gr\ufffdund"
