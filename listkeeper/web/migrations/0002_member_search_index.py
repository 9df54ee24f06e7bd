"""Trigram indexes for the members search on PostgreSQL (pg_trgm).

The search is a substring match (LIKE '%q%') on the address and the name;
without these it reads the whole member table. pg_trgm is a trusted
extension (PostgreSQL 13+), so a database owner may create it; where that is
not allowed the indexes are skipped and search still works, only slower.
SQLite needs nothing: it scans 100,000 members fast enough.
"""

from __future__ import annotations

from django.db import migrations, transaction

STATEMENTS = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS member_key_trgm ON lists_member USING gin (key gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS member_name_trgm ON lists_member USING gin (upper(name) gin_trgm_ops)",
]


def forwards(apps, schema_editor):  # noqa: ANN001, ANN201
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            for sql in STATEMENTS:
                schema_editor.execute(sql)
    except Exception as exc:  # noqa: BLE001 - any refusal just leaves search unindexed
        print(f"\n  Skipped the trigram search indexes ({exc}); member search works without them.")


def backwards(apps, schema_editor):  # noqa: ANN001, ANN201
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS member_key_trgm")
        schema_editor.execute("DROP INDEX IF EXISTS member_name_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("web", "0001_bulk_import"),
        ("lists", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
