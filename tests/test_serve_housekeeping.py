"""serve's housekeeping part expires held posts without anyone running a command."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from listkeeper.mail.models import Post, PostStatus
from listkeeper.serving import Housekeeping

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_expires_held_posts_in_the_background(community) -> None:
    old = Post.objects.create(
        mailing_list=community,
        sender="stranger@example.com",
        raw=b"Subject: hi\r\n\r\nhi\r\n",
        status=PostStatus.HELD,
        reason="not a member",
        received=timezone.now() - timedelta(days=community.held_expiry_days + 1),
    )
    fresh = Post.objects.create(
        mailing_list=community,
        sender="other@example.com",
        raw=b"Subject: hi\r\n\r\nhi\r\n",
        status=PostStatus.HELD,
        reason="not a member",
    )
    part = Housekeeping()
    part.every = 0.05
    part.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            old.refresh_from_db()
            if old.status != PostStatus.HELD:
                break
            time.sleep(0.05)
    finally:
        part.stop()
    fresh.refresh_from_db()
    assert old.status == PostStatus.REJECTED
    assert fresh.status == PostStatus.HELD
