"""Gunicorn settings for the web container: `gunicorn -c python:listkeeper.gunicorn_conf`.

Read from the environment like everything else: WEB_LISTEN (host:port),
WEB_WORKERS, WEB_THREADS, LOG_FORMAT. Access logs never show the signed tokens
in unsubscribe, confirm and manage links (they act on a member's behalf).
"""

from __future__ import annotations

import json
import os
from typing import Any

from gunicorn.glogging import Logger

from listkeeper.lib.log import redact

bind = [os.environ.get("WEB_LISTEN") or "0.0.0.0:8000"]
workers = int(os.environ.get("WEB_WORKERS") or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
# The default 30 s kills a worker streaming a large CSV export.
timeout = 120
graceful_timeout = 30
# Docker's healthchecks and a reverse proxy (which terminates TLS) talk to us.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"
accesslog = "-"
errorlog = "-"
# /dev/shm: the heartbeat file must not sit on an overlay filesystem.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn's runtime control socket (gunicornc) goes under $HOME, which is on
# the container's read-only filesystem; nothing here uses it.
control_socket_disable = True


class RedactingLogger(Logger):
    """Access log lines without tokens or query strings; JSON with LOG_FORMAT=json."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        request_line = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')} {environ['SERVER_PROTOCOL']}"
        atoms["r"] = redact(request_line)
        atoms["U"] = redact(atoms.get("U") or "")
        atoms["f"] = redact(atoms.get("f") or "-").split("?", 1)[0]
        atoms["q"] = "-"
        return atoms

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        if (os.environ.get("LOG_FORMAT") or "text").lower() != "json":
            return super().access(resp, req, environ, request_time)
        if not self.access_log_enabled:
            return None
        atoms = self.atoms(resp, req, environ, request_time)
        line = {
            "logger": "gunicorn.access",
            "remote": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "status": atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": atoms["M"],
            "agent": atoms["a"],
        }
        self.access_log.info(json.dumps(line))
        return None


logger_class = RedactingLogger


def child_exit(server: Any, worker: Any) -> None:
    # Prometheus multi-process mode: drop the dead worker's live gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
