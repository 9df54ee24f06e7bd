"""/metrics for Prometheus: mail numbers read from the database at scrape time,
and the request latency histogram with the middleware that fills it.

Counting in the database rather than in process-local counters keeps the
numbers right however many web, LMTP and worker processes run. The request
latency histogram is process-local; under gunicorn set PROMETHEUS_MULTIPROC_DIR
so every worker process's samples are merged.

/metrics needs `Authorization: Bearer METRICS_TOKEN`; without METRICS_TOKEN it
answers only the loopback address (see docs/operations.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from listkeeper.lib import postqueue

# The send rate is averaged over this window: long enough to smooth the
# worker's pacing, short enough to show a stall within a minute.
RATE_WINDOW = 60


class MailCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        from listkeeper.delivery.models import Delivery, Recipient, RecipientState, WorkerHeartbeat
        from listkeeper.lists.models import Subscription, Suppression
        from listkeeper.mail.models import InboundKind, InboundMessage, Post, PostStatus

        posts = GaugeMetricFamily(
            "listkeeper_posts", "Posts stored, by their current outcome.", labels=["status"]
        )
        counts = dict(Post.objects.order_by().values_list("status").annotate(n=Count("id")))
        for post_status in PostStatus.values:
            posts.add_metric([post_status], counts.get(post_status, 0))
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
        backlog = Recipient.objects.filter(
            state__in=[RecipientState.PENDING, RecipientState.CLAIMED]
        ).count()
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

        yield from _ses_quota()

        queue_status = postqueue.queue_status()
        if queue_status is not None:
            yield GaugeMetricFamily(
                "listkeeper_postfix_queue_up",
                "1 when Postfix's queue could be read.",
                value=1 if queue_status.ok else 0,
            )
            if queue_status.ok:
                queue = GaugeMetricFamily(
                    "listkeeper_postfix_queue_messages",
                    "Messages in Postfix's queue (postqueue -j), by queue.",
                    labels=["queue"],
                )
                for name, n in sorted(queue_status.messages.items()):
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
        for kind in InboundKind.values:
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


def _ses_quota() -> Iterator[Metric]:
    """The send rate the workers share, and SES's own figures while they are fresh."""
    from listkeeper.delivery import quota

    ses = quota.overview()
    yield GaugeMetricFamily(
        "listkeeper_ses_send_rate_in_use",
        "Recipients per second the workers share: SES_MAX_SEND_RATE, or SES's MaxSendRate "
        "when lower (0: unpaced).",
        value=ses.rate_in_use,
    )
    if ses.standing is None:
        return
    row = ses.standing.quota
    yield GaugeMetricFamily(
        "listkeeper_ses_max_send_rate",
        "SES's MaxSendRate for the account.",
        value=row.max_send_rate,
    )
    yield GaugeMetricFamily(
        "listkeeper_ses_max_24h_send",
        "SES's Max24HourSend: recipients the account may send in any 24 hours.",
        value=row.max_24h_send,
    )
    yield GaugeMetricFamily(
        "listkeeper_ses_sent_last_24h",
        "SES's SentLast24Hours when it was last asked.",
        value=row.sent_last_24h,
    )
    yield GaugeMetricFamily(
        "listkeeper_ses_quota_used",
        "Recipients SES counts in the last 24 hours now (its last answer plus our ledger since).",
        value=ses.standing.used,
    )
    yield GaugeMetricFamily(
        "listkeeper_ses_quota_held",
        "Copies waiting for SES's rolling 24-hour window to free.",
        value=ses.standing.held,
    )
    if row.fetched is not None:
        yield GaugeMetricFamily(
            "listkeeper_ses_quota_age_seconds",
            "Seconds since SES last answered with its quota.",
            value=(timezone.now() - row.fetched).total_seconds(),
        )


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


def _from_loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return _from_loopback(request)
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        reason = (
            "send Authorization: Bearer METRICS_TOKEN"
            if settings.METRICS_TOKEN
            else "set METRICS_TOKEN to scrape from another address"
        )
        return HttpResponse(f"Forbidden: {reason}\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


# *_created samples only add noise to every scrape.
disable_created_metrics()

REQUEST_LATENCY = Histogram(
    "listkeeper_http_request_duration_seconds",
    "Time to answer a web request, by view.",
    ["method", "view", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestLatencyMiddleware:
    """Times every request; labels stay few (view name, status class)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is not None:
            view = match.view_name or "unnamed"
        elif request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            view = "static"
        else:
            view = "unresolved"
        method = request.method if request.method in _METHODS else "other"
        REQUEST_LATENCY.labels(method, view, f"{response.status_code // 100}xx").observe(
            time.perf_counter() - started
        )
        return response
