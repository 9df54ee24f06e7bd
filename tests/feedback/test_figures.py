from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from listkeeper.delivery.models import RecipientState
from listkeeper.feedback import figures, ses
from listkeeper.lists import services
from listkeeper.mail.models import Post
from tests.support.feedback import make_post, verp_address
from tests.support.sns_signing import bounce_event, complaint_event, delivery_event, send_event


def forty_members(ml) -> None:
    for i in range(40):
        services.subscribe(ml, f"member{i:02}@example.org", actor="test")


def sent(delivery, when) -> None:
    delivery.recipients.update(state=RecipientState.SENT, sent_at=when)


def report(delivery, ml, event_for, emails) -> None:
    """SES notifications for these members' copies, linked through their VERP sender."""
    for email in emails:
        row = delivery.recipients.get(email=email)
        ses.process_event(event_for([email], source=verp_address(ml, row)))


def test_it_counts_what_became_of_each_post(community) -> None:
    forty_members(community)
    delivery = make_post(community)
    sent(delivery, timezone.now())
    delivery.recipients.filter(email="member39@example.org").update(state=RecipientState.FAILED)
    everyone = [f"member{i:02}@example.org" for i in range(39)]
    report(delivery, community, send_event, everyone)
    report(delivery, community, delivery_event, everyone[:30])
    report(delivery, community, bounce_event, everyone[30:32])
    report(
        delivery,
        community,
        lambda r, source: bounce_event(r, "Transient", source=source),
        everyone[32:33],
    )
    report(delivery, community, complaint_event, everyone[:1])

    [f] = figures.post_figures([Post.objects.get(id=delivery.post_id)])

    assert (f.recipients, f.handed_off, f.refused) == (40, 39, 1)
    assert (f.accepted, f.delivered) == (39, 30)
    assert (f.hard_bounces, f.soft_bounces, f.complaints) == (2, 1, 1)


def test_it_warns_at_ses_review_rates_over_7_and_30_days(community) -> None:
    forty_members(community)
    now = timezone.now()
    old = make_post(community, "Three weeks ago")
    sent(old, now - timedelta(days=20))
    recent = make_post(community, "Yesterday")
    sent(recent, now - timedelta(days=1))
    # Two hard bounces of 40 this week: 5%, the review threshold.
    report(recent, community, bounce_event, ["member00@example.org", "member01@example.org"])

    week = figures.list_rates(community, 7)
    month = figures.list_rates(community, 30)

    assert (week.sent, week.hard_bounces, week.bounce_rate) == (40, 2, 0.05)
    assert week.bounce_warning and not week.complaint_warning
    assert (month.sent, month.hard_bounces) == (80, 2)
    assert not month.bounce_warning

    report(recent, community, complaint_event, ["member02@example.org"])
    assert figures.list_rates(community, 30).complaint_warning


def test_it_gives_a_30_day_series_with_empty_days(community) -> None:
    forty_members(community)
    delivery = make_post(community)
    sent(delivery, timezone.now() - timedelta(days=3))
    report(delivery, community, bounce_event, ["member05@example.org"])

    series = figures.daily_series(community, 30)

    assert len(series) == 30 and series[-1].day == timezone.now().date()
    assert [d.sent for d in series if d.sent] == [40]
    assert series[-4].sent == 40
    assert sum(d.hard_bounces for d in series) == 1 and series[-1].hard_bounces == 1
