"""Deliverability figures: what became of each post, and each list's bounce and complaint rates.

Rates follow SES: the bounce rate counts hard (permanent) bounces over copies
sent; SES puts an account under review at 5% bounces or 0.1% complaints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from listkeeper.delivery.models import Recipient, RecipientState
from listkeeper.feedback.models import DeliveryEvent, EventKind, EventSource
from listkeeper.lists.models import MailingList
from listkeeper.mail.models import Post

BOUNCE_REVIEW_RATE = 0.05
COMPLAINT_REVIEW_RATE = 0.001


@dataclass
class PostFigures:
    post: Post
    recipients: int = 0  # in the ledger
    handed_off: int = 0  # taken by Postfix
    refused: int = 0  # refused by Postfix
    accepted: int = 0  # SES reported on them (it took the copy)
    delivered: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    complaints: int = 0


# Which PostFigures field counts each kind of delivery event.
FIELD_FOR_KIND: dict[str, str] = {
    EventKind.DELIVERED: "delivered",
    EventKind.HARD_BOUNCE: "hard_bounces",
    EventKind.SOFT_BOUNCE: "soft_bounces",
    EventKind.COMPLAINT: "complaints",
}


def post_figures(posts: Sequence[Post]) -> list[PostFigures]:
    """Figures for several posts in a handful of queries."""
    figures = {p.id: PostFigures(p) for p in posts}
    ledger = (
        Recipient.objects.filter(delivery__post_id__in=figures)
        .values("delivery__post_id")
        .annotate(
            total=Count("id"),
            sent=Count("id", filter=Q(state=RecipientState.SENT)),
            failed=Count("id", filter=Q(state=RecipientState.FAILED)),
        )
    )
    for row in ledger:
        f = figures[row["delivery__post_id"]]
        f.recipients, f.handed_off, f.refused = row["total"], row["sent"], row["failed"]
    events = DeliveryEvent.objects.filter(post_id__in=figures)
    for event_row in events.values("post_id", "kind").annotate(n=Count("email", distinct=True)):
        f = figures[event_row["post_id"]]
        field = FIELD_FOR_KIND.get(event_row["kind"])
        if field:
            setattr(f, field, event_row["n"])
    # Any SES notification about a copy means SES accepted it.
    for accepted_row in (
        events.filter(source=EventSource.SNS)
        .values("post_id")
        .annotate(n=Count("email", distinct=True))
    ):
        figures[accepted_row["post_id"]].accepted = accepted_row["n"]
    return [figures[p.id] for p in posts]


@dataclass
class Rates:
    days: int
    sent: int
    hard_bounces: int
    soft_bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.hard_bounces / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def bounce_warning(self) -> bool:
        return self.sent > 0 and self.bounce_rate >= BOUNCE_REVIEW_RATE

    @property
    def complaint_warning(self) -> bool:
        return self.sent > 0 and self.complaint_rate >= COMPLAINT_REVIEW_RATE


def _sent(ml: MailingList, since: datetime) -> Q:
    return Q(delivery__post__mailing_list=ml, state=RecipientState.SENT, sent_at__gte=since)


def _list_events(ml: MailingList, since: datetime) -> QuerySet[DeliveryEvent]:
    # Copies of posts only, like the copies counted as sent (not our own notices).
    return DeliveryEvent.objects.filter(mailing_list=ml, post__isnull=False, occurred__gte=since)


def _event_counts() -> dict[str, Count]:
    return {
        "hard": Count("id", filter=Q(kind=EventKind.HARD_BOUNCE)),
        "soft": Count("id", filter=Q(kind=EventKind.SOFT_BOUNCE)),
        "complaints": Count("id", filter=Q(kind=EventKind.COMPLAINT)),
    }


def list_rates(ml: MailingList, days: int, now: datetime | None = None) -> Rates:
    since = (now or timezone.now()) - timedelta(days=days)
    sent = Recipient.objects.filter(_sent(ml, since)).count()
    counts = _list_events(ml, since).aggregate(**_event_counts())
    return Rates(days, sent, counts["hard"], counts["soft"], counts["complaints"])


@dataclass
class Day:
    day: date
    sent: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    complaints: int = 0

    @property
    def bounce_rate(self) -> float:
        return self.hard_bounces / self.sent if self.sent else 0.0


def daily_series(ml: MailingList, days: int = 30, now: datetime | None = None) -> list[Day]:
    """One Day per calendar day (UTC), oldest first, today included."""
    today = (now or timezone.now()).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=timezone.get_current_timezone())
    series = {first + timedelta(days=i): Day(first + timedelta(days=i)) for i in range(days)}
    sent = (
        Recipient.objects.filter(_sent(ml, since))
        .annotate(day=TruncDate("sent_at"))
        .values("day")
        .annotate(n=Count("id"))
    )
    for row in sent:
        if row["day"] in series:
            series[row["day"]].sent = row["n"]
    events = (
        _list_events(ml, since)
        .annotate(day=TruncDate("occurred"))
        .values("day")
        .annotate(**_event_counts())
    )
    for day, hard, soft, complaints in events.values_list("day", "hard", "soft", "complaints"):
        if day in series:
            d = series[day]
            d.hard_bounces, d.soft_bounces, d.complaints = hard, soft, complaints
    return list(series.values())
