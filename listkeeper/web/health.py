"""/healthz for compose healthchecks and load balancers.

/healthz runs the checks (database, worker heartbeat, Postfix queue) and answers
200 when all pass, 503 otherwise, with a JSON body naming each check.
`?check=database` runs a subset (the web container's own healthcheck must not go
unhealthy because the worker is down). Details are short on purpose: /healthz is
public, so it names what failed, never hosts, users or errors from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from listkeeper.lib import postqueue

logger = logging.getLogger(__name__)

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


def check_postfix_queue() -> Check:
    status = postqueue.queue_status()
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
