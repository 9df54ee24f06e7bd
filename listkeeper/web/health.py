"""/healthz for compose healthchecks and load balancers, /metrics for Prometheus.

/healthz runs the checks (database, worker heartbeat, Postfix queue) and answers
200 when all pass, 503 otherwise, with a JSON body naming each check.
`?check=database` runs a subset (the web container's own healthcheck must not go
unhealthy because the worker is down). Details are short on purpose: /healthz is
public, so it names what failed, never hosts, users or errors from the database.

/metrics needs `Authorization: Bearer METRICS_TOKEN`; without METRICS_TOKEN it
answers only the loopback address (see docs/operations.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import shlex
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import Histogram, disable_created_metrics

from listkeeper.lib import postqueue

logger = logging.getLogger(__name__)

# How old the Postfix container's status file may be before the queue counts as
# unreadable: a few of its 30-second healthcheck intervals.
QUEUE_STATUS_MAX_AGE = 180.0

Check = dict[str, Any]


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable"
        logger.warning("health: database unreachable: %s", exc.__class__.__name__)
        return {"ok": False, "detail": f"database unreachable ({exc.__class__.__name__})"}
    return {"ok": True, "detail": "reachable"}


def check_worker(name: str | None = None) -> Check:
    """Some worker (or the worker called `name`) sent a heartbeat recently."""
    from listkeeper.delivery.models import WorkerHeartbeat

    max_age = settings.HEALTH_WORKER_MAX_AGE
    if not max_age:
        return {"ok": True, "skipped": True, "detail": "not checked (HEALTH_WORKER_MAX_AGE=0)"}
    beats = (
        WorkerHeartbeat.objects.all() if name is None else WorkerHeartbeat.objects.filter(name=name)
    )
    try:
        latest = beats.order_by("-seen").values_list("seen", flat=True).first()
    except Exception as exc:
        return {"ok": False, "detail": f"heartbeats unreadable ({exc.__class__.__name__})"}
    if latest is None:
        detail = (
            "no worker has reported yet"
            if name is None
            else f"worker {name!r} has not reported yet"
        )
        return {"ok": False, "detail": detail}
    age = (timezone.now() - latest).total_seconds()
    ok = age <= max_age
    detail = f"last heartbeat {age:.0f}s ago" + ("" if ok else f" (more than {max_age}s)")
    return {"ok": ok, "detail": detail, "age_seconds": round(age, 1)}


def queue_status() -> postqueue.QueueStatus | None:
    """Postfix's queue as configured, or None when nothing is configured."""
    if settings.POSTQUEUE_COMMAND:
        return postqueue.run(settings.POSTQUEUE_COMMAND)
    if settings.POSTFIX_QUEUE_STATUS_FILE:
        return postqueue.read_status(settings.POSTFIX_QUEUE_STATUS_FILE, QUEUE_STATUS_MAX_AGE)
    # `listkeeper serve` runs a private Postfix under DATA_DIR: report on it.
    from listkeeper.postfix.instance import default_instance

    instance = default_instance()
    if instance.is_running():
        return postqueue.run(f"postqueue -c {shlex.quote(str(instance.config_dir))} -j")
    return None


def check_postfix_queue() -> Check:
    status = queue_status()
    if status is None:
        return {"ok": True, "skipped": True, "detail": "not checked (no queue configured)"}
    if not status.ok:
        return {"ok": False, "detail": f"queue unreadable: {status.error}"}
    return {"ok": True, "detail": "readable", "messages": status.size}


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "worker": check_worker,
    "postfix_queue": check_postfix_queue,
}


class UnknownCheck(ValueError):
    pass


def run_checks(names: list[str] | None = None) -> tuple[bool, dict[str, Check]]:
    names = names or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise UnknownCheck(
            f"unknown check {', '.join(map(repr, unknown))}; choose from {', '.join(CHECKS)}"
        )
    results = {name: CHECKS[name]() for name in names}
    return all(r["ok"] for r in results.values()), results


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    names = [n for n in request.GET.get("check", "").split(",") if n]
    try:
        ok, results = run_checks(names)
    except UnknownCheck as exc:
        return JsonResponse({"status": "error", "error": str(exc)}, status=400)
    body = {"status": "ok" if ok else "fail", "checks": results}
    return JsonResponse(body, status=200 if ok else 503)


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
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from listkeeper.web.metrics import registry

    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


# *_created samples only add noise to every scrape.
disable_created_metrics()

REQUEST_LATENCY = Histogram(
    "listkeeper_http_request_duration_seconds",
    "Time to answer a web request, by view.",
    ["method", "view", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


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


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Included from listkeeper/urls.py.
urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
]
