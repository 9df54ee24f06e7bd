"""SES's own quota, read with real boto3 over HTTP from a stand-in of the SES API,
and what the worker does with it: pace at SES's rate, hold what the 24-hour
quota cannot take yet and send it as the window frees."""

from __future__ import annotations

import asyncio
import html
import logging
from collections import Counter
from collections.abc import Iterator

import pytest

from listkeeper.delivery import quota
from listkeeper.delivery.models import Recipient, RecipientState, SESQuota
from tests.sesapi import SESAPIStub
from tests.sesstub import busiest_window
from tests.support.delivery import post_to
from tests.support.worker import WorkerThread, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_aws_config(monkeypatch, tmp_path) -> None:
    """Nothing from this machine's AWS setup: no files, no instance metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(quota, "_logged", None)


@pytest.fixture
def ses_api(settings, monkeypatch, no_aws_config) -> Iterator[SESAPIStub]:
    stub = SESAPIStub().start()
    settings.SES_QUOTA_REFRESH = 300
    settings.SES_API_ENDPOINT = stub.url
    settings.SES_REGION = stub.region
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", stub.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "stand-in-secret")
    yield stub
    stub.stop()


def test_it_reads_the_account_quota_with_get_account(ses_api) -> None:
    ses_api.max_24h_send, ses_api.max_send_rate, ses_api.sent_last_24h = 50000, 14, 1234

    row = quota.refresh()

    assert ses_api.calls == ["GetAccount"]
    row = SESQuota.objects.get()
    assert (row.max_24h_send, row.max_send_rate, row.sent_last_24h) == (50000, 14, 1234)
    assert row.error == "" and row.fetched is not None
    assert quota.rate_in_use(20, quota.fresh()) == 14
    assert quota.rate_in_use(10, quota.fresh()) == 10


def test_it_falls_back_to_get_send_quota_when_get_account_is_denied(ses_api) -> None:
    ses_api.deny = {"GetAccount"}
    ses_api.max_24h_send, ses_api.max_send_rate, ses_api.sent_last_24h = 200, 1, 7

    quota.refresh()

    assert ses_api.calls == ["GetAccount", "GetSendQuota"]
    row = SESQuota.objects.get()
    assert (row.max_24h_send, row.max_send_rate, row.sent_last_24h) == (200, 1, 7)


def test_access_denied_turns_the_feature_off_and_is_logged_once(ses_api, caplog) -> None:
    ses_api.deny = {"GetAccount", "GetSendQuota"}
    caplog.set_level(logging.WARNING, logger="listkeeper.delivery.quota")

    quota.refresh()
    quota.refresh()

    assert ses_api.calls == ["GetAccount", "GetSendQuota"] * 2
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings
    assert "AccessDenied" in warnings[0] and "ses:GetSendQuota" in warnings[0]
    assert quota.fresh() is None and quota.standing() is None
    assert quota.rate_in_use(14, quota.fresh()) == 14
    assert "AccessDeniedException" in SESQuota.objects.get().error


def test_unknown_credentials_are_refused_like_ses_does(ses_api, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASOMEONEELSE00000")

    quota.refresh()

    assert "UnrecognizedClientException" in SESQuota.objects.get().error
    assert quota.fresh() is None


def test_without_credentials_nothing_is_asked_and_nothing_breaks(settings, no_aws_config) -> None:
    stub = SESAPIStub().start()
    settings.SES_API_ENDPOINT = stub.url
    try:
        quota.refresh()
    finally:
        stub.stop()

    assert stub.calls == []
    assert "no AWS API credentials" in SESQuota.objects.get().error


def test_it_is_off_when_the_relay_is_not_ses_and_no_endpoint_is_set(settings) -> None:
    settings.SES_QUOTA_REFRESH = 300
    settings.RELAY_HOST, settings.SES_API_ENDPOINT = ("127.0.0.1", 2525), ""
    assert "is not SES" in quota.disabled_reason()
    settings.RELAY_HOST = ("email-smtp.eu-west-2.amazonaws.com", 587)
    assert quota.disabled_reason() == ""
    settings.RELAY_HOST, settings.SES_API_ENDPOINT = ("127.0.0.1", 2525), "http://127.0.0.1:1"
    assert quota.disabled_reason() == ""
    settings.SES_QUOTA_REFRESH = 0
    assert quota.disabled_reason() == "SES_QUOTA_REFRESH is 0"


def test_serve_relaying_to_its_catcher_never_asks_ses(settings, ses_api, caplog) -> None:
    """`make run` without SES_USER: Postfix relays to the local catcher, so the
    worker neither asks SES's API nor warns that it cannot."""
    from listkeeper.delivery.worker import Worker
    from listkeeper.serving import FanOutWorker, default_parts

    settings.SES_USER = ""
    settings.RELAY_HOST = ("email-smtp.eu-west-2.amazonaws.com", 587)
    part = next(p for p in default_parts() if isinstance(p, FanOutWorker))
    worker = Worker.from_settings()
    worker.quota_off = part.quota_off
    caplog.set_level(logging.INFO, logger="listkeeper.delivery")

    asyncio.run(worker._watch_quota())

    assert ses_api.calls == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("catcher" in r.getMessage() for r in caplog.records)


def test_the_worker_paces_at_ses_rate_when_it_is_below_ours(ses_api, community, sink) -> None:
    handler, server = sink
    ses_api.max_send_rate = 4
    delivery = post_to(community, 12)

    worker = WorkerThread(server.port, rate=20).start()
    wait_for(lambda: len(handler.messages) >= 12, timeout=60, what="twelve copies")
    worker.stop()

    assert worker.worker.pacer.rate == 4
    assert busiest_window(m.at for m in handler.messages) <= 4
    assert Recipient.objects.filter(delivery=delivery, state=RecipientState.SENT).count() == 12


def test_a_fan_out_over_the_24_hour_quota_waits_for_the_window_and_loses_nothing(
    ses_api, community, sink, caplog
) -> None:
    handler, server = sink
    caplog.set_level(logging.WARNING, logger="listkeeper.delivery.worker")
    # SES has counted 4 of 10 in the last 24 hours: 6 fit now.
    ses_api.max_24h_send, ses_api.sent_last_24h = 10, 4
    ses_api.also_sent = lambda: sum(len(m.rcpt_tos) for m in handler.messages)
    delivery = post_to(community, 10)

    worker = WorkerThread(server.port, rate=0)
    worker.worker.quota_every = 0.5  # ask SES often, not every 5 minutes
    worker.start()
    try:
        wait_for(lambda: len(handler.messages) >= 6, timeout=30, what="the six that fit")
        # Several quota checks later, the rest still waits, pending, not failed.
        calls = len(ses_api.calls)
        wait_for(lambda: len(ses_api.calls) >= calls + 2, timeout=30, what="two more checks")
        assert len(handler.messages) == 6
        states = Counter(
            Recipient.objects.filter(delivery=delivery).values_list("state", flat=True)
        )
        assert states == {RecipientState.SENT: 6, RecipientState.PENDING: 4}
        held = [r.getMessage() for r in caplog.records if "holding" in r.getMessage()]
        assert len(held) == 1 and "holding 4" in held[0], held

        # The four older sends leave SES's rolling window; it now counts our six.
        ses_api.sent_last_24h = 0
        wait_for(lambda: len(handler.messages) >= 10, timeout=30, what="the held four")
    finally:
        worker.stop()

    received = Counter(r for m in handler.messages for r in m.rcpt_tos)
    assert received == Counter({f"m{i}@example.net": 1 for i in range(10)})
    assert Recipient.objects.filter(delivery=delivery, state=RecipientState.SENT).count() == 10


def test_the_dashboard_and_metrics_show_the_rate_in_use_and_the_quota(
    ses_api, community, client, settings
) -> None:
    from django.contrib.auth import get_user_model

    settings.SES_MAX_SEND_RATE = 20
    ses_api.max_24h_send, ses_api.max_send_rate, ses_api.sent_last_24h = 10, 5, 4
    quota.refresh()
    post_to(community, 10)  # 10 waiting, 6 fit
    admin = get_user_model().objects.create_superuser("root@example.org", "root@example.org", "x")
    client.force_login(admin)

    body = html.unescape(client.get("/").content.decode())
    assert "5/s" in body  # SES's rate, below SES_MAX_SEND_RATE
    assert "4 of 10" in body
    assert "4 copies wait for SES's 24-hour quota" in body

    metrics = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    samples = dict(
        line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("listkeeper_ses_")
    )
    assert float(samples["listkeeper_ses_max_send_rate"]) == 5
    assert float(samples["listkeeper_ses_max_24h_send"]) == 10
    assert float(samples["listkeeper_ses_sent_last_24h"]) == 4
    assert float(samples["listkeeper_ses_send_rate_in_use"]) == 5
    assert float(samples["listkeeper_ses_quota_held"]) == 4

    status = html.unescape(client.get("/status/").content.decode())
    assert "4 of 10 sent in the last 24 hours; 4 copies wait" in status
