"""When an issue is due, on a fake clock: the list's hour, its weekday, its size limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from listkeeper.delivery import digests
from listkeeper.delivery.models import DigestEntry, DigestIssue
from listkeeper.lists.models import PostingPolicy
from tests.digests.conftest import member, post

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def ml(community):
    community.posting_policy = PostingPolicy.OPEN
    community.time_zone = "Europe/Berlin"
    community.digest_hour = 7
    community.save()
    member(community, "mime@example.net", "digest")
    return community


def _posted_at(ml, when: datetime, subject: str = "A post", body: str = "Hello.") -> None:
    p = post(ml, subject, body=body)
    DigestEntry.objects.filter(post=p).update(added=when)


def _issues(ml) -> int:
    return DigestIssue.objects.filter(mailing_list=ml).count()


def test_it_sends_nothing_when_nothing_is_pending(ml) -> None:
    now = datetime(2026, 12, 2, 9, tzinfo=BERLIN)
    assert digests.why_due(ml, now) is None
    assert digests.send_due(now=now) == []
    assert digests.send_due(now=now, everything=True) == []
    assert _issues(ml) == 0


def test_a_daily_digest_goes_at_the_lists_hour_in_its_time_zone(ml) -> None:
    _posted_at(ml, datetime(2026, 12, 1, 18, tzinfo=BERLIN))
    # 06:59 Berlin is 05:59 UTC: not yet.
    assert digests.send_due(now=datetime(2026, 12, 2, 6, 59, tzinfo=BERLIN)) == []
    sent = digests.send_due(now=datetime(2026, 12, 2, 7, 0, tzinfo=BERLIN))
    assert [(i.posts, i.recipients) for i in sent] == [(1, 1)]
    # A post after 07:00 waits for tomorrow's 07:00.
    _posted_at(ml, datetime(2026, 12, 2, 7, 30, tzinfo=BERLIN))
    assert digests.send_due(now=datetime(2026, 12, 2, 23, 0, tzinfo=BERLIN)) == []
    assert len(digests.send_due(now=datetime(2026, 12, 3, 7, 1, tzinfo=BERLIN))) == 1
    assert _issues(ml) == 2


def test_a_weekly_digest_goes_on_the_lists_weekday(ml) -> None:
    ml.digest_frequency = "weekly"
    ml.digest_weekday = 4  # Friday
    ml.save()
    wednesday = datetime(2026, 12, 2, 12, tzinfo=BERLIN)
    _posted_at(ml, wednesday)
    for days in (1, 2):  # Thursday, and Friday before the hour
        now = wednesday + timedelta(days=days, hours=-6 if days == 2 else 0)
        assert digests.send_due(now=now) == [], now
    friday = datetime(2026, 12, 4, 7, 5, tzinfo=BERLIN)
    assert len(digests.send_due(now=friday)) == 1
    # The next Friday, not the next day.
    _posted_at(ml, friday + timedelta(hours=1))
    assert digests.send_due(now=friday + timedelta(days=1)) == []
    assert digests.send_due(now=friday + timedelta(days=6, hours=23)) == []
    assert len(digests.send_due(now=friday + timedelta(days=7))) == 1


def test_it_sends_early_when_the_pending_posts_pass_the_size_limit(ml) -> None:
    ml.digest_size_kb = 2
    ml.save()
    morning = datetime(2026, 12, 2, 8, tzinfo=BERLIN)
    _posted_at(ml, morning, "Small", body="x" * 100)
    assert digests.why_due(ml, morning) is None
    _posted_at(ml, morning, "Big", body="y" * 2048)
    assert digests.why_due(ml, morning) == "size"
    sent = digests.send_due(now=morning)
    assert [i.posts for i in sent] == [2]
    assert digests.why_due(ml, morning) is None


def test_now_sends_whatever_is_pending_and_only_for_the_list_asked(ml, community) -> None:
    from listkeeper.lists import services

    other = services.create_list("other", "lists.example.org", actor="test", posting_policy="open")
    member(other, "mime@example.net", "digest")
    post(other, "Elsewhere")
    _posted_at(ml, datetime(2026, 12, 2, 8, tzinfo=BERLIN))
    now = datetime(2026, 12, 2, 9, tzinfo=BERLIN)
    sent = digests.send_due(now=now, everything=True, address="community@lists.example.org")
    assert [i.mailing_list_id for i in sent] == [ml.id]
    assert DigestEntry.objects.filter(mailing_list=other, issue__isnull=True).count() == 1
