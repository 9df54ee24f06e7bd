"""Full-text search in the database itself: no search engine to run.

PostgreSQL: a stored tsvector column (subject weighted A, author B, body C)
with a GIN index. SQLite: an FTS5 table over the same columns, kept in step
by triggers. Django's model does not know either; search.py queries them.
"""

from __future__ import annotations

from django.db import migrations

PG_FORWARD = [
    """
    ALTER TABLE archive_archivedmessage ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(subject, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(author_name, '')), 'B') ||
        setweight(to_tsvector('english'::regconfig, left(coalesce(body_text, ''), 200000)), 'C')
    ) STORED
    """,
    "CREATE INDEX archive_msg_search_idx ON archive_archivedmessage USING gin (search_vector)",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS archive_msg_search_idx",
    "ALTER TABLE archive_archivedmessage DROP COLUMN IF EXISTS search_vector",
]

SQLITE_FORWARD = [
    """
    CREATE VIRTUAL TABLE archive_fts USING fts5(
        subject, author_name, body_text,
        content='archive_archivedmessage', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER archive_fts_insert AFTER INSERT ON archive_archivedmessage BEGIN
        INSERT INTO archive_fts(rowid, subject, author_name, body_text)
        VALUES (new.id, new.subject, new.author_name, new.body_text);
    END
    """,
    """
    CREATE TRIGGER archive_fts_delete AFTER DELETE ON archive_archivedmessage BEGIN
        INSERT INTO archive_fts(archive_fts, rowid, subject, author_name, body_text)
        VALUES ('delete', old.id, old.subject, old.author_name, old.body_text);
    END
    """,
    """
    CREATE TRIGGER archive_fts_update AFTER UPDATE OF subject, author_name, body_text
    ON archive_archivedmessage BEGIN
        INSERT INTO archive_fts(archive_fts, rowid, subject, author_name, body_text)
        VALUES ('delete', old.id, old.subject, old.author_name, old.body_text);
        INSERT INTO archive_fts(rowid, subject, author_name, body_text)
        VALUES (new.id, new.subject, new.author_name, new.body_text);
    END
    """,
    "INSERT INTO archive_fts(archive_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS archive_fts_update",
    "DROP TRIGGER IF EXISTS archive_fts_delete",
    "DROP TRIGGER IF EXISTS archive_fts_insert",
    "DROP TABLE IF EXISTS archive_fts",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor) -> None:
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("archive", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
