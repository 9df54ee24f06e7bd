from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from listkeeper.delivery.models import WorkerHeartbeat
from listkeeper.lib import postqueue


@pytest.fixture
def client() -> Client:
    return Client(HTTP_HOST="127.0.0.1")


def test_it_answers_200_when_database_and_worker_are_fine(client, db) -> None:
    WorkerHeartbeat.objects.create(name="worker-1", seen=timezone.now())

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["postfix_queue"]["skipped"] is True


def test_it_answers_503_when_no_worker_reported_recently(client, db, settings) -> None:
    settings.HEALTH_WORKER_MAX_AGE = 60
    WorkerHeartbeat.objects.create(name="worker-1", seen=timezone.now() - timedelta(minutes=5))

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert "more than 60s" in response.json()["checks"]["worker"]["detail"]


def test_it_answers_503_when_no_worker_ever_reported(client, db) -> None:
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["detail"] == "no worker has reported yet"


def test_it_runs_only_the_checks_asked_for(client, db) -> None:
    response = client.get("/healthz?check=database")

    assert response.status_code == 200
    assert list(response.json()["checks"]) == ["database"]


def test_it_names_an_unknown_check(client, db) -> None:
    response = client.get("/healthz?check=databse")

    assert response.status_code == 400
    assert "'databse'" in response.json()["error"]


def test_it_reports_an_unreachable_database_without_details(client, db, monkeypatch) -> None:
    class Unreachable:
        def cursor(self):
            raise ConnectionError("password authentication failed for user listkeeper host db")

    monkeypatch.setattr("listkeeper.web.health.connection", Unreachable())
    response = client.get("/healthz?check=database")

    assert response.status_code == 503
    text = response.content.decode()
    assert "ConnectionError" in text
    assert "password" not in text and "listkeeper" not in text


def test_it_reads_the_queue_with_the_configured_command(client, db, settings, tmp_path) -> None:
    fake = tmp_path / "postqueue"
    lines = [
        {"queue_name": "deferred", "recipients": [{"address": "a@example.org"}]},
        {
            "queue_name": "active",
            "recipients": [{"address": "b@example.org"}, {"address": "c@example.org"}],
        },
    ]
    fake.write_text(
        "#!/bin/sh\ncat <<'EOF'\n" + "\n".join(json.dumps(x) for x in lines) + "\nEOF\n"
    )
    fake.chmod(0o755)
    settings.POSTQUEUE_COMMAND = f"{fake} -j"

    response = client.get("/healthz?check=postfix_queue")

    assert response.status_code == 200
    assert response.json()["checks"]["postfix_queue"]["messages"] == 2


def test_it_fails_when_postqueue_fails(client, db, settings, tmp_path) -> None:
    fake = tmp_path / "postqueue"
    fake.write_text(
        "#!/bin/sh\necho 'postqueue: fatal: Queue report unavailable - mail system is down' >&2\nexit 69\n"
    )
    fake.chmod(0o755)
    settings.POSTQUEUE_COMMAND = str(fake)

    response = client.get("/healthz?check=postfix_queue")

    assert response.status_code == 503
    assert "mail system is down" in response.json()["checks"]["postfix_queue"]["detail"]


def test_it_reads_the_status_file_the_postfix_container_leaves(
    client, db, settings, tmp_path
) -> None:
    status_file = tmp_path / "run" / "postfix-queue.json"
    settings.POSTFIX_QUEUE_STATUS_FILE = str(status_file)

    assert client.get("/healthz?check=postfix_queue").status_code == 503  # not written yet

    postqueue.write_status(status_file, postqueue.QueueStatus(ok=True, messages={"deferred": 3}))
    response = client.get("/healthz?check=postfix_queue")
    assert response.status_code == 200
    assert response.json()["checks"]["postfix_queue"]["messages"] == 3

    stale = postqueue.QueueStatus(ok=True, messages={"deferred": 3}, checked=0.0)
    postqueue.write_status(status_file, stale)
    assert client.get("/healthz?check=postfix_queue").status_code == 503


@pytest.mark.e2e
def test_it_reads_the_queue_of_the_private_postfix_serve_runs(
    client, transactional_db, postfix, monkeypatch
) -> None:
    monkeypatch.setattr("listkeeper.postfix.instance.default_instance", lambda: postfix)

    response = client.get("/healthz?check=postfix_queue")

    assert response.status_code == 200, response.content
    assert response.json()["checks"]["postfix_queue"]["detail"] == "readable"

    metrics = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "listkeeper_postfix_queue_up 1.0" in metrics
    assert 'listkeeper_postfix_queue_messages{queue="deferred"}' in metrics
