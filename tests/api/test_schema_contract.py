"""The API keeps the contract its OpenAPI schema states, for generated requests.

Schemathesis reads /api/openapi.json from the app and sends requests built from
it through WSGI, authenticated as a site admin. Path parameters point at data
that exists (a list, its members, a held post), so the operations on `{address}`
and `{post_id}` are reached and not answered 404 every time. Every answer must
not be a server error and must match the schema declared for its status code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.config import SchemathesisConfig

from listkeeper.api.models import ApiToken
from listkeeper.lists import services
from listkeeper.lists.models import MailingList, Member, Role
from listkeeper.mail.models import Post, PostStatus

# 19 operations; a bounded number of examples each keeps the run short.
EXAMPLES = 10

MEMBER = "ann@example.com"


# Read from the app when the module loads; the generated requests go to the same app.
# Fuzzing only, EXAMPLES a operation (the coverage phase alone sends ~800 requests).
schema = schemathesis.openapi.from_wsgi(
    "/api/openapi.json",
    get_wsgi_application(),
    config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}}),
)


@pytest.fixture
def keep_test_connection(db: None) -> Iterator[None]:
    # As Django's test client does: requests must not close the test's database
    # connection (its transaction holds the test data).
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


@pytest.fixture
def token(db: None) -> str:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "unused")
    return ApiToken.issue(user, name="schemathesis")[1]


def ensure_data() -> dict[str, Any]:
    """A list with a member and a held post, made again if a request removed them."""
    ml = MailingList.objects.filter(local_part="contract").first() or services.create_list(
        "contract", "lists.example.org", actor="test"
    )
    if not ml.subscriptions.filter(member__key=MEMBER).exists():
        services.subscribe(ml, MEMBER, actor="test", role=Role.MEMBER)
    post = Post.objects.filter(mailing_list=ml, status=PostStatus.HELD).first()
    if post is None:
        post = Post.objects.create(
            mailing_list=ml,
            sender="stranger@example.net",
            subject="Held for the contract test",
            message_id="<contract@example.net>",
            raw=b"From: stranger@example.net\r\nSubject: Held\r\n\r\nHello\r\n",
            size=60,
            status=PostStatus.HELD,
            reason="not a member",
        )
    return {"list_id": ml.id, "address": MEMBER, "post_id": post.id}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: CI fails only on a change
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_answers_as_its_schema_says(
    case: Any, token: str, keep_test_connection: None
) -> None:
    existing = ensure_data()
    for name in case.path_parameters or {}:
        if name in existing:
            case.path_parameters[name] = existing[name]
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )


def test_it_reaches_the_address_and_post_operations(client: Any, token: str) -> None:
    existing = ensure_data()
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/api/lists/{existing['list_id']}"

    member = client.get(f"{base}/members/{MEMBER}", headers=headers)
    post = client.get(f"{base}/held/{existing['post_id']}", headers=headers)

    assert member.status_code == 200 and member.json()["email"] == MEMBER
    assert post.status_code == 200 and post.json()["id"] == existing["post_id"]
    assert Member.objects.filter(key=MEMBER).count() == 1


def test_a_page_far_past_the_end_answers_the_last_page(client: Any, token: str) -> None:
    existing = ensure_data()

    response = client.get(
        f"/api/lists/{existing['list_id']}/members",
        {"page": 662482980585078784},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["page"]) == (1, 1)
    assert [item["email"] for item in body["items"]] == [MEMBER]


def test_malformed_input_answers_the_one_error_shape(client: Any, token: str) -> None:
    existing = ensure_data()

    response = client.patch(
        f"/api/lists/{existing['list_id']}",
        data='{"posting_policy": "anarchy"}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("posting_policy: ")
    assert [e["loc"][-1] for e in body["errors"]] == ["posting_policy"]
