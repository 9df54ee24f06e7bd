from __future__ import annotations

import json
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from django.core.management import CommandError, call_command
from django.utils import timezone

from listkeeper.delivery.models import WorkerHeartbeat


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LMTPController(Controller):
    def factory(self):
        return LMTP(self.handler)


def run(capsys, *args) -> tuple[int, dict]:
    try:
        call_command("health", *args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(capsys.readouterr().out)


def test_it_exits_non_zero_when_the_worker_is_silent(db, capsys) -> None:
    code, out = run(capsys, "--check", "worker")
    assert code == 1 and out["checks"]["worker"]["ok"] is False

    WorkerHeartbeat.objects.create(name="w", seen=timezone.now())
    code, out = run(capsys, "--check", "worker")
    assert code == 0 and out["status"] == "ok"


def test_it_checks_one_named_workers_heartbeat(db, capsys) -> None:
    WorkerHeartbeat.objects.create(name="worker-a", seen=timezone.now())

    code, out = run(capsys, "--check", "worker", "--worker", "worker-b")
    assert (
        code == 1 and out["checks"]["worker"]["detail"] == "worker 'worker-b' has not reported yet"
    )

    code, out = run(capsys, "--check", "worker", "--worker", "worker-a")
    assert code == 0


def test_it_checks_that_lmtp_answers(db, capsys, settings) -> None:
    port = free_port()
    settings.LMTP_LISTEN = ("0.0.0.0", port)

    code, out = run(capsys, "--check", "lmtp")
    assert code == 1 and "not answering" in out["checks"]["lmtp"]["detail"]

    server = LMTPController(object(), hostname="127.0.0.1", port=port)
    server.start()
    try:
        code, out = run(capsys, "--check", "lmtp")
    finally:
        server.stop()
    assert code == 0, out


def test_it_names_an_unknown_check(db) -> None:
    with pytest.raises(CommandError, match="'nope'"):
        call_command("health", "--check", "nope")
