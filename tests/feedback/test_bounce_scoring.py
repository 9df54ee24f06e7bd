from __future__ import annotations

from datetime import UTC, datetime, timedelta

from listkeeper.delivery.models import Recipient
from listkeeper.lists import services
from listkeeper.lists.models import AuditEntry, Status, Subscription, Suppression

from .conftest import make_post

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def carol(ml) -> Subscription:
    return services.subscribe(ml, "carol@example.net", actor="test").subscription


def bounce(sub: Subscription, when: datetime) -> Subscription:
    services.record_soft_bounce(sub, actor="test", reason="4.2.2 mailbox full", now=when)
    sub.refresh_from_db()
    return sub


def reached(sub: Subscription, when: datetime) -> bool:
    return services.record_soft_bounce(sub, actor="test", reason="4.2.2 mailbox full", now=when)


def test_it_counts_at_most_one_soft_bounce_a_day(community) -> None:
    sub = carol(community)
    for hour in range(0, 12, 3):
        sub = bounce(sub, MONDAY + timedelta(hours=hour))
    assert sub.bounce_score == 1.0
    sub = bounce(sub, MONDAY + timedelta(days=1))
    assert sub.bounce_score == 2.0


def test_it_forgets_a_score_left_alone_for_a_week(community) -> None:
    sub = carol(community)
    for day in range(3):
        sub = bounce(sub, MONDAY + timedelta(days=day))
    assert sub.bounce_score == 3.0
    sub = bounce(sub, MONDAY + timedelta(days=2 + 8))
    assert sub.bounce_score == 1.0


def test_it_says_when_the_score_reaches_the_lists_threshold_without_disabling(community) -> None:
    sub = carol(community)
    answers = [reached(sub, MONDAY + timedelta(days=day)) for day in range(6)]

    # The fifth day reaches the default threshold of 5; the probe decides what follows.
    assert answers == [False, False, False, False, True, True]
    sub.refresh_from_db()
    assert (sub.status, sub.bounce_score) == (Status.ACTIVE, 6.0)
    assert not Suppression.objects.exists()


def test_it_disables_delivery_only_after_the_probe_bounced(community) -> None:
    sub = carol(community)
    for day in range(5):
        sub = bounce(sub, MONDAY + timedelta(days=day))

    assert services.disable_after_probe(sub, actor="system", reason="5.1.1 user unknown")

    sub.refresh_from_db()
    assert sub.status == Status.DISABLED
    assert "bounce score 5 reached 5 and the confirmation probe bounced" in sub.disabled_reason
    # Temporary failures disable, they do not suppress: other lists still deliver.
    assert not Suppression.objects.exists()


def test_it_uses_a_lower_threshold_set_on_the_list(community) -> None:
    services.update_list(community, actor="test", bounce_score_threshold=2.0)
    sub = carol(community)
    assert not reached(sub, MONDAY)
    assert reached(sub, MONDAY + timedelta(days=1))


def test_it_lets_an_owner_re_enable_a_bounced_member(community) -> None:
    sub = carol(community)
    services.record_hard_bounce(sub.member, actor="system", reason="5.1.1 user unknown")
    sub.refresh_from_db()
    assert sub.status == Status.DISABLED and "5.1.1" in sub.disabled_reason

    services.set_status(sub, Status.ACTIVE, actor="owner@example.org")

    sub.refresh_from_db()
    assert (sub.status, sub.bounce_score, sub.disabled_reason) == (Status.ACTIVE, 0.0, "")
    assert sub.last_bounce is not None  # the history stays
    assert not Suppression.objects.exists()
    actions = list(AuditEntry.objects.filter(member=sub.member).values_list("action", flat=True))
    assert {"suppress", "unsuppress", "status"} <= set(actions)
    ledger = make_post(community)
    assert list(Recipient.objects.filter(delivery=ledger).values_list("email", flat=True)) == [
        "carol@example.net"
    ]


def test_it_keeps_a_complainer_suppressed_until_they_confirm_again(community) -> None:
    sub = carol(community)
    services.record_complaint(sub, actor="system", reason="abuse")
    assert Suppression.objects.get(key="carol@example.net").bulk_only

    # An owner putting the address back does not lift a complaint's suppression...
    services.subscribe(community, "carol@example.net", actor="owner@example.org")
    assert Suppression.objects.filter(key="carol@example.net").exists()
    assert make_post(community).total == 0

    # ...the member's own confirmation does.
    services.unsubscribe(Subscription.objects.get(id=sub.id), actor="test")
    services.subscribe(
        community, "carol@example.net", actor="carol@example.net", status=Status.PENDING
    )
    services.subscribe(community, "carol@example.net", actor="carol@example.net")
    assert not Suppression.objects.exists()
    assert make_post(community).total == 1


def test_it_lifts_suppression_for_a_subscription_confirmed_in_one_step(community) -> None:
    services.suppress("carol@example.net", "hard bounce: 5.1.1", bulk_only=False, actor="system")

    result = services.subscribe(
        community, "carol@example.net", actor="carol@example.net", confirmed=True
    )

    assert result.outcome == "created"
    assert not Suppression.objects.exists()


def test_it_disables_every_list_on_a_hard_bounce(community) -> None:
    other = services.create_list("other", "lists.example.org", actor="test")
    carol(community)
    services.subscribe(other, "carol@example.net", actor="test")

    disabled = services.record_hard_bounce(
        Subscription.objects.first().member, actor="system", reason="5.1.1"
    )

    assert len(disabled) == 2
    assert set(Subscription.objects.values_list("status", flat=True)) == {Status.DISABLED}


def test_it_takes_a_complainer_back_when_they_confirm_through_the_link(client, community) -> None:
    from listkeeper.lib import links

    sub = carol(community)
    services.record_complaint(sub, actor="system", reason="abuse")
    confirm_path = (
        links.confirm_url(community.id, "carol@example.net").split("://", 1)[1].split("/", 1)[1]
    )

    response = client.post(f"/{confirm_path}")

    assert response.status_code == 200
    sub.refresh_from_db()
    assert sub.status == Status.ACTIVE
    assert not Suppression.objects.exists()
    assert make_post(community).total == 1
