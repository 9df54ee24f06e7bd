"""What the status page shows about delivery: fan-out progress, workers, the catcher's outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from listkeeper.delivery import catcher
from listkeeper.delivery.models import Delivery, WorkerHeartbeat


def status_context(deliveries: int = 10, outbox: int = 20) -> dict[str, Any]:
    """Context for templates/delivery/_status.html."""
    recent = list(
        Delivery.objects.select_related("post__mailing_list", "digest__mailing_list")
        .defer("message", "post__raw")
        .order_by("-id")[:deliveries]
    )
    live_since = timezone.now() - timedelta(seconds=settings.WORKER_STALE_AFTER)
    outbox_total, caught = catcher.caught(outbox)
    return {
        "deliveries": recent,
        "workers": list(WorkerHeartbeat.objects.filter(seen__gte=live_since).order_by("name")),
        "catching": not settings.SES_USER,
        "outbox_dir": catcher.outbox_dir(),
        "outbox_total": outbox_total,
        "outbox": caught,
    }
