"""`listkeeper health`: the containers' healthchecks, with the checks /healthz runs.

    listkeeper health --check worker      # worker container
    listkeeper health --check lmtp        # lmtpd container: LHLO on LMTP_LISTEN
    listkeeper health --url http://127.0.0.1:8000/healthz?check=database   # web

Prints the result as JSON; exit status 0 when healthy, 1 otherwise.
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from listkeeper.web import health


def check_lmtp() -> dict[str, Any]:
    host, port = settings.LMTP_LISTEN
    # A server bound to every address is reached on loopback from inside.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    try:
        with smtplib.LMTP(host, port, timeout=10) as lmtp:
            code, _ = lmtp.ehlo()  # LHLO
    except (OSError, smtplib.SMTPException) as exc:
        return {
            "ok": False,
            "detail": f"LMTP {host}:{port} not answering ({exc.__class__.__name__})",
        }
    return {"ok": code == 250, "detail": f"LMTP {host}:{port} answered {code}"}


def check_url(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return {"ok": response.status == 200, "detail": f"{url} answered {response.status}"}
    except urllib.error.HTTPError as exc:
        return {"ok": False, "detail": f"{url} answered {exc.code}"}
    except (OSError, ValueError) as exc:
        return {"ok": False, "detail": f"{url} not answering ({exc})"}


class Command(BaseCommand):
    help = "Run health checks and exit non-zero when one fails (for container healthchecks)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check",
            action="append",
            default=[],
            help=f"database, worker, postfix_queue, lmtp (repeat or comma-separate; "
            f"default: {', '.join(health.CHECKS)})",
        )
        parser.add_argument("--url", help="GET this URL and require a 200 instead")
        parser.add_argument(
            "--worker",
            metavar="NAME",
            help="the worker check looks at this worker's heartbeat only",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names = [n for arg in options["check"] for n in arg.split(",") if n]
        results: dict[str, dict[str, Any]] = {}
        if options["url"]:
            results["url"] = check_url(options["url"])
        if "lmtp" in names:
            names.remove("lmtp")
            results["lmtp"] = check_lmtp()
        if options["worker"] and "worker" in names:
            names.remove("worker")
            results["worker"] = health.check_worker(options["worker"])
        if names or not results:
            try:
                _, found = health.run_checks(names)
            except health.UnknownCheck as exc:
                raise CommandError(str(exc)) from None
            results.update(found)
        ok = all(r["ok"] for r in results.values())
        self.stdout.write(json.dumps({"status": "ok" if ok else "fail", "checks": results}))
        if not ok:
            raise SystemExit(1)
