"""Post and InboundMessage moved from the lists app to the mail app: the rows survive."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from listkeeper.delivery.models import Delivery
from listkeeper.mail.models import InboundMessage, Post

BEFORE = [
    ("lists", "0008_member_language"),
    ("mail", "0001_held_notice"),
    ("delivery", "0004_digests"),
    ("feedback", "0002_bounce_probe"),
    ("archive", "0002_search"),
]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_posts_reports_and_their_deliveries_keep_their_rows_across_the_move() -> None:
    old = migrate(BEFORE)
    mailing_list = old.get_model("lists", "MailingList").objects.create(
        local_part="community", domain="lists.example.org"
    )
    post = old.get_model("lists", "Post").objects.create(
        mailing_list=mailing_list,
        sender="a@example.org",
        subject="Hello",
        raw=b"x",
        status="accepted",
    )
    old.get_model("delivery", "Delivery").objects.create(
        post=post, message=b"m", envelope_from="community-bounces@lists.example.org"
    )
    old.get_model("lists", "InboundMessage").objects.create(
        mailing_list=mailing_list,
        kind="bounce",
        recipient="community-bounces@lists.example.org",
        raw=b"r",
    )

    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())

    moved = Post.objects.get(pk=post.pk)
    assert moved.subject == "Hello"
    assert moved._meta.db_table == "mail_post"
    assert Delivery.objects.get(post=moved).post.mailing_list_id == mailing_list.pk
    assert InboundMessage.objects.get().recipient == "community-bounces@lists.example.org"
    tables = connection.introspection.table_names()
    assert "mail_post" in tables and "lists_post" not in tables
