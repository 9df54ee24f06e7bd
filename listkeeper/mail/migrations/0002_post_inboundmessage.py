# Post and InboundMessage move from the lists app to the mail app: first the
# models appear in this app's state, still on the lists_ tables (no database
# change); lists 0009 removes them from that app's state, and 0003 here renames
# the tables. The data never moves.
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mail", "0001_held_notice"),
        ("lists", "0008_member_language"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Post",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("message_id", models.CharField(blank=True, max_length=998)),
                        ("sender", models.CharField(max_length=254)),
                        ("author", models.CharField(blank=True, max_length=254)),
                        ("subject", models.CharField(blank=True, max_length=998)),
                        ("raw", models.BinaryField()),
                        ("size", models.PositiveIntegerField(default=0)),
                        (
                            "received",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("accepted", "Accepted"),
                                    ("held", "Held for moderation"),
                                    ("rejected", "Rejected"),
                                    ("discarded", "Discarded"),
                                ],
                                max_length=12,
                            ),
                        ),
                        ("reason", models.CharField(blank=True, max_length=500)),
                        ("decided", models.DateTimeField(blank=True, null=True)),
                        ("decided_by", models.CharField(blank=True, max_length=200)),
                        (
                            "authentication",
                            models.CharField(blank=True, db_default="", max_length=1000),
                        ),
                        (
                            "mailing_list",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="posts",
                                to="lists.mailinglist",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "lists_post",
                        "ordering": ["-received", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["mailing_list", "status"],
                                name="lists_post_mailing_e3b3b4_idx",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="InboundMessage",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("bounce", "Delivery report"),
                                    ("owner", "Mail to the owners"),
                                    ("request", "Command"),
                                ],
                                max_length=8,
                            ),
                        ),
                        ("recipient", models.CharField(max_length=254)),
                        ("sender", models.CharField(blank=True, max_length=254)),
                        ("raw", models.BinaryField()),
                        ("received", models.DateTimeField(default=django.utils.timezone.now)),
                        ("processed", models.DateTimeField(blank=True, null=True)),
                        ("result", models.TextField(blank=True)),
                        ("unproven", models.CharField(blank=True, max_length=300)),
                        (
                            "mailing_list",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="lists.mailinglist",
                            ),
                        ),
                    ],
                    options={"db_table": "lists_inboundmessage"},
                ),
            ],
            database_operations=[],
        ),
    ]
