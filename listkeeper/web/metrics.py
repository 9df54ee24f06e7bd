"""Prometheus metrics: mail numbers read from the database at scrape time.

Counting in the database rather than in process-local counters keeps the
numbers right however many web, LMTP and worker processes run. The request
latency histogram is process-local (listkeeper.web.health); under gunicorn set
PROMETHEUS_MULTIPROC_DIR so every worker process's samples are merged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# The send rate is averaged over this window: long enough to smooth the
# worker's pacing, short enough to show a stall within a minute.
RATE_WINDOW = 60


class MailCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        from listkeeper.delivery.models import Delivery, Recipient, WorkerHeartbeat
        from listkeeper.lists.models import (
            InboundMessage,
            Post,
            PostStatus,
            Subscription,
            Suppression,
        )
        from listkeeper.web.health import queue_status

        posts = GaugeMetricFamily(
            "listkeeper_posts", "Posts stored, by their current outcome.", labels=["status"]
        )
        counts = dict(Post.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status in PostStatus.values:
            posts.add_metric([status], counts.get(status, 0))
        yield posts

        totals = Delivery.objects.aggregate(sent=Sum("handed_off"), failed=Sum("failed"))
        yield CounterMetricFamily(
            "listkeeper_recipients_handed_off",
            "Recipient copies Postfix accepted from the worker.",
            value=totals["sent"] or 0,
        )
        yield CounterMetricFamily(
            "listkeeper_recipients_failed",
            "Recipient copies Postfix refused permanently.",
            value=totals["failed"] or 0,
        )

        since = timezone.now() - timedelta(seconds=RATE_WINDOW)
        recent = Recipient.objects.filter(sent_at__gte=since).count()
        yield GaugeMetricFamily(
            "listkeeper_send_rate",
            f"Recipients handed to Postfix per second, averaged over {RATE_WINDOW}s.",
            value=recent / RATE_WINDOW,
        )
        backlog = Recipient.objects.filter(state__in=["pending", "claimed"]).count()
        yield GaugeMetricFamily(
            "listkeeper_delivery_backlog",
            "Recipients waiting to be handed to Postfix.",
            value=backlog,
        )

        latest = WorkerHeartbeat.objects.order_by("-seen").values_list("seen", flat=True).first()
        if latest is not None:
            yield GaugeMetricFamily(
                "listkeeper_worker_heartbeat_age_seconds",
                "Seconds since the most recent worker heartbeat.",
                value=(timezone.now() - latest).total_seconds(),
            )

        status = queue_status()
        if status is not None:
            yield GaugeMetricFamily(
                "listkeeper_postfix_queue_up",
                "1 when Postfix's queue could be read.",
                value=1 if status.ok else 0,
            )
            if status.ok:
                queue = GaugeMetricFamily(
                    "listkeeper_postfix_queue_messages",
                    "Messages in Postfix's queue (postqueue -j), by queue.",
                    labels=["queue"],
                )
                for name, n in sorted(status.messages.items()):
                    queue.add_metric([name], n)
                yield queue

        # Complaints suppress bulk mail only; hard bounces suppress everything.
        suppressed = GaugeMetricFamily(
            "listkeeper_suppressions", "Suppressed addresses, by cause.", labels=["cause"]
        )
        by_kind = dict(
            Suppression.objects.order_by().values_list("bulk_only").annotate(n=Count("id"))
        )
        suppressed.add_metric(["bounce"], by_kind.get(False, 0))
        suppressed.add_metric(["complaint"], by_kind.get(True, 0))
        yield suppressed

        inbound = CounterMetricFamily(
            "listkeeper_inbound_messages",
            "Mail received for -bounces, -owner and -request addresses.",
            labels=["kind"],
        )
        kinds = dict(InboundMessage.objects.order_by().values_list("kind").annotate(n=Count("id")))
        for kind in ("bounce", "owner", "request"):
            inbound.add_metric([kind], kinds.get(kind, 0))
        yield inbound

        subs = GaugeMetricFamily(
            "listkeeper_subscriptions", "Subscriptions, by status.", labels=["status"]
        )
        by_status = dict(
            Subscription.objects.order_by().values_list("status").annotate(n=Count("id"))
        )
        for name, n in sorted(by_status.items()):
            subs.add_metric([name], n)
        yield subs


class _ThisProcess(Collector):
    """The default registry: this process's request latency and resources."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def registry() -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(reg)
    else:
        reg.register(_ThisProcess())
    reg.register(MailCollector())
    return reg
