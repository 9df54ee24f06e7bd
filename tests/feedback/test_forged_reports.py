"""A delivery report changes a member only when it proves itself.

Anyone can mail LIST-bounces@ a report naming anyone; only a VERP token that
verifies, for the very address the report names, makes it count.
"""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User

from listkeeper.feedback import dsn
from listkeeper.feedback.models import DeliveryEvent
from listkeeper.lib import tokens
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Role, Status, Subscription, Suppression
from listkeeper.mail.models import InboundKind, InboundMessage
from tests.support.dsn import delivery_report
from tests.support.feedback import ledger_row, make_post, verp_address


def store(ml: MailingList, raw: bytes, address: str) -> InboundMessage:
    return InboundMessage.objects.create(
        mailing_list=ml, kind=InboundKind.BOUNCE, recipient=address, sender="", raw=raw
    )


def state_of(email: str) -> list[tuple[str, str, float]]:
    return sorted(
        (s.mailing_list.local_part, s.status, s.bounce_score)
        for s in Subscription.objects.filter(member__key=email).select_related("mailing_list")
    )


@pytest.fixture
def other(members) -> MailingList:
    """A second list carol is also on."""
    ml = services.create_list("parents", "lists.example.org", actor="test")
    services.subscribe(ml, "carol@example.net", actor="test")
    return ml


def test_it_ignores_a_forged_report_without_a_token(members, other, caplog) -> None:
    inbound = store(
        members, delivery_report("carol@example.net", to=members.suffixed("bounces")), ""
    )
    inbound.recipient = members.suffixed("bounces")
    inbound.save()

    with caplog.at_level(logging.WARNING, logger="listkeeper.feedback.dsn"):
        dsn.process_inbound(inbound)

    assert state_of("carol@example.net") == [
        ("community", Status.ACTIVE, 0.0),
        ("parents", Status.ACTIVE, 0.0),
    ]
    assert Suppression.objects.count() == 0 and DeliveryEvent.objects.count() == 0
    inbound.refresh_from_db()
    assert inbound.unproven == "sent to the plain bounce address, without a VERP token"
    assert inbound.result == "carol@example.net: hard 5.1.1, not acted on"
    assert [r.message for r in caplog.records] == [
        f"delivery report {inbound.id} not acted on: "
        "sent to the plain bounce address, without a VERP token "
        "(carol@example.net: hard 5.1.1, not acted on)"
    ]


def test_it_ignores_a_report_with_a_tampered_token(members, delivery, other) -> None:
    row = ledger_row(delivery, "carol@example.net")
    token = tokens.verp_token(row.id)
    # A character in the signature part (the last one also holds padding bits).
    tampered = token[:18] + ("a" if token[18] != "a" else "b") + token[19:]
    address = f"community-bounces+{tampered}@lists.example.org"

    inbound = store(members, delivery_report("carol@example.net", to=address), address)
    dsn.process_inbound(inbound)

    assert state_of("carol@example.net") == [
        ("community", Status.ACTIVE, 0.0),
        ("parents", Status.ACTIVE, 0.0),
    ]
    assert Suppression.objects.count() == 0 and DeliveryEvent.objects.count() == 0
    inbound.refresh_from_db()
    assert "does not verify" in inbound.unproven


def test_it_ignores_a_valid_token_naming_someone_else(members, delivery, other) -> None:
    # dave got a copy, so he holds a valid token: he must not be able to remove carol.
    address = verp_address(members, ledger_row(delivery, "dave@gmail.com"))

    inbound = store(members, delivery_report("carol@example.net", to=address), address)
    dsn.process_inbound(inbound)

    for email in ("carol@example.net", "dave@gmail.com"):
        assert {s[1:] for s in state_of(email)} == {(Status.ACTIVE, 0.0)}
    assert Suppression.objects.count() == 0 and DeliveryEvent.objects.count() == 0
    inbound.refresh_from_db()
    assert inbound.unproven == (
        "reports carol@example.net, but its VERP token was made for dave@gmail.com"
    )


def test_it_ignores_a_token_from_another_lists_copy(members, other) -> None:
    delivery = make_post(other)
    address = verp_address(other, ledger_row(delivery, "carol@example.net")).replace(
        "parents-bounces", "community-bounces"
    )

    inbound = store(members, delivery_report("carol@example.net", to=address), address)
    dsn.process_inbound(inbound)

    assert {s[1] for s in state_of("carol@example.net")} == {Status.ACTIVE}
    inbound.refresh_from_db()
    assert "made for a copy from parents@lists.example.org" in inbound.unproven


def test_it_disables_only_the_list_whose_copy_bounced(members, delivery, other) -> None:
    address = verp_address(members, ledger_row(delivery, "Carol@Example.NET".lower()))
    report = delivery_report("Carol@EXAMPLE.net", to=address)

    inbound = store(members, report, address)
    dsn.process_inbound(inbound)

    assert state_of("carol@example.net") == [
        ("community", Status.DISABLED, 0.0),
        ("parents", Status.ACTIVE, 0.0),
    ]
    assert Suppression.objects.count() == 0
    inbound.refresh_from_db()
    assert inbound.unproven == ""
    assert DeliveryEvent.objects.get().recipient_id == ledger_row(delivery, "carol@example.net").id


def test_it_suppresses_an_address_proven_failing_on_two_lists(members, delivery, other) -> None:
    third = services.create_list("choir", "lists.example.org", actor="test")
    services.subscribe(third, "carol@example.net", actor="test")
    first = verp_address(members, ledger_row(delivery, "carol@example.net"))
    dsn.process_inbound(store(members, delivery_report("carol@example.net", to=first), first))
    assert Suppression.objects.count() == 0

    second_row = ledger_row(make_post(other), "carol@example.net")
    second = verp_address(other, second_row)
    dsn.process_inbound(store(other, delivery_report("carol@example.net", to=second), second))

    assert Suppression.objects.get().key == "carol@example.net"
    assert state_of("carol@example.net") == [
        ("choir", Status.DISABLED, 0.0),
        ("community", Status.DISABLED, 0.0),
        ("parents", Status.DISABLED, 0.0),
    ]


def test_it_does_not_count_one_list_twice_towards_suppression(members, delivery, other) -> None:
    for _ in range(2):
        # The owner re-enables carol between the two posts.
        services.set_status(
            Subscription.objects.get(mailing_list=members, member__key="carol@example.net"),
            Status.ACTIVE,
            actor="owner@example.org",
        )
        row = ledger_row(make_post(members), "carol@example.net")
        address = verp_address(members, row)
        dsn.process_inbound(
            store(members, delivery_report("carol@example.net", to=address), address)
        )

    assert Suppression.objects.count() == 0
    assert ("parents", Status.ACTIVE, 0.0) in state_of("carol@example.net")


def test_it_shows_owners_the_reports_it_did_not_act_on(client, members, delivery) -> None:
    services.subscribe(members, "owner@example.org", actor="test", role=Role.OWNER)
    client.force_login(User.objects.create_user("owner", "owner@example.org", "x"))
    forged = store(
        members,
        delivery_report("carol@example.net", to=members.suffixed("bounces")),
        members.suffixed("bounces"),
    )
    dsn.process_inbound(forged)
    genuine_address = verp_address(members, ledger_row(delivery, "dave@gmail.com"))
    dsn.process_inbound(
        store(members, delivery_report("dave@gmail.com", to=genuine_address), genuine_address)
    )

    html = client.get(f"/lists/{members.id}/deliverability/").content.decode()

    section = html.split('id="unproven"', 1)[1]
    rows = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0].count("<tr>")
    assert rows == 1
    assert "carol@example.net: hard 5.1.1, not acted on" in section
    assert "without a VERP token" in section
    assert "dave@gmail.com" not in section
