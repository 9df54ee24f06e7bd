from __future__ import annotations

from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from listkeeper.delivery.ledger import enqueue_post
from listkeeper.delivery.models import Recipient
from listkeeper.lists import services
from listkeeper.lists.models import Suppression
from listkeeper.mail.models import Post, PostStatus


def scrape(client: Client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **extra)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_it_counts_posts_recipients_backlog_and_suppressions(community) -> None:
    for addr in ["a@example.org", "b@example.org", "c@example.org"]:
        services.subscribe(community, addr, actor="test")
    post = Post.objects.create(
        mailing_list=community, sender="a@example.org", raw=b"x", status=PostStatus.ACCEPTED
    )
    Post.objects.create(
        mailing_list=community, sender="x@example.com", raw=b"x", status=PostStatus.HELD
    )
    delivery = enqueue_post(post, b"message", "community-bounces@lists.example.org")
    first = delivery.recipients.order_by("id").first()
    Recipient.objects.filter(id=first.id).update(state="sent", sent_at=timezone.now())
    delivery.handed_off = 1
    delivery.save()
    Suppression.objects.create(key="gone@example.org", reason="hard bounce")
    Suppression.objects.create(key="angry@example.org", reason="complaint", bulk_only=True)

    m = scrape(Client(HTTP_HOST="127.0.0.1"))

    assert m[("listkeeper_posts", (("status", "accepted"),))] == 1
    assert m[("listkeeper_posts", (("status", "held"),))] == 1
    assert m[("listkeeper_recipients_handed_off_total", ())] == 1
    assert m[("listkeeper_delivery_backlog", ())] == 2
    assert m[("listkeeper_send_rate", ())] > 0
    assert m[("listkeeper_suppressions", (("cause", "bounce"),))] == 1
    assert m[("listkeeper_suppressions", (("cause", "complaint"),))] == 1
    assert m[("listkeeper_subscriptions", (("status", "active"),))] == 3


def test_it_times_web_requests_by_view(db) -> None:
    client = Client(HTTP_HOST="127.0.0.1")
    before = scrape(client).get(
        (
            "listkeeper_http_request_duration_seconds_count",
            (("method", "GET"), ("status", "2xx"), ("view", "healthz")),
        ),
        0,
    )
    client.get("/healthz?check=database")

    after = scrape(client)

    key = (
        "listkeeper_http_request_duration_seconds_count",
        (("method", "GET"), ("status", "2xx"), ("view", "healthz")),
    )
    assert after[key] == before + 1


def test_it_refuses_other_addresses_without_a_token(db) -> None:
    response = Client(HTTP_HOST="127.0.0.1").get("/metrics", REMOTE_ADDR="172.30.25.7")

    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content


def test_it_requires_the_bearer_token_when_one_is_set(db, settings) -> None:
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    client = Client(HTTP_HOST="127.0.0.1")

    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    wrong = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
    right = client.get(
        "/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token"
    )
    assert right.status_code == 200
    assert b"listkeeper_posts" in right.content


def test_it_shows_the_postfix_queue_size(db, settings, tmp_path) -> None:
    from listkeeper.lib import postqueue

    status_file = tmp_path / "postfix-queue.json"
    postqueue.write_status(
        status_file, postqueue.QueueStatus(ok=True, messages={"deferred": 4, "active": 1})
    )
    settings.POSTFIX_QUEUE_STATUS_FILE = str(status_file)

    m = scrape(Client(HTTP_HOST="127.0.0.1"))

    assert m[("listkeeper_postfix_queue_up", ())] == 1
    assert m[("listkeeper_postfix_queue_messages", (("queue", "deferred"),))] == 4
    assert m[("listkeeper_postfix_queue_messages", (("queue", "active"),))] == 1
