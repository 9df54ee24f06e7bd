"""Full-text search of a list's archive, in the database itself.

One interface, two engines: PostgreSQL's tsvector (websearch_to_tsquery,
ts_rank, ts_headline; column and GIN index from migration 0002) and SQLite's
FTS5 (bm25, highlight, snippet; a table kept in step by triggers). Both rank
subject matches above author above body, and both return the matching words
marked with MARK_START/MARK_END, which the page turns into <mark> after
escaping everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection

from listkeeper.archive.models import ArchivedMessage
from listkeeper.lists.models import MailingList

MARK_START, MARK_END = "\ue000", "\ue001"
MAX_QUERY = 200


@dataclass
class Hit:
    message: ArchivedMessage
    subject: str  # with marks
    snippet: str  # with marks
    rank: float


@dataclass
class Results:
    query: str
    hits: list[Hit]
    total: int


def search(ml: MailingList, query: str, *, limit: int = 20, offset: int = 0) -> Results:
    query = query.strip()[:MAX_QUERY]
    if not query:
        return Results(query, [], 0)
    engine = _postgresql if connection.vendor == "postgresql" else _sqlite
    rows, total = engine(ml.id, query, limit, offset)
    messages = ArchivedMessage.objects.defer("raw", "body_html").in_bulk([r[0] for r in rows])
    hits = [
        Hit(messages[mid], subject or "", snippet or "", float(rank))
        for mid, subject, snippet, rank in rows
        if mid in messages
    ]
    return Results(query, hits, total)


_TABLE = "archive_archivedmessage"


def _postgresql(list_id: int, query: str, limit: int, offset: int) -> tuple[list, int]:
    options = f"StartSel={MARK_START}, StopSel={MARK_END}"
    with connection.cursor() as cursor:
        # One pass over the matches: the total comes from a window over them,
        # and ts_headline (the costly part) runs only on the page's rows.
        cursor.execute(
            f"""
            WITH q AS (SELECT websearch_to_tsquery('english', %s) AS q),
            page AS (
                SELECT m.id, m.subject, m.body_text, ts_rank(m.search_vector, q.q) AS rank,
                       m.date, count(*) OVER () AS total
                FROM {_TABLE} m, q
                WHERE m.mailing_list_id = %s AND m.search_vector @@ q.q
                ORDER BY rank DESC, m.date DESC, m.id DESC
                LIMIT %s OFFSET %s
            )
            SELECT page.id,
                   ts_headline('english', page.subject, q.q, %s || ', HighlightAll=true'),
                   ts_headline('english', left(page.body_text, 20000), q.q,
                               %s || ', MaxFragments=2, MaxWords=25, MinWords=10'),
                   page.rank, page.total
            FROM page, q
            ORDER BY page.rank DESC, page.date DESC, page.id DESC
            """,
            [query, list_id, limit, offset, options, options],
        )
        rows = cursor.fetchall()
    if not rows and offset:
        return [], _pg_count(list_id, query)  # past the last page: still say how many
    return [row[:4] for row in rows], (rows[0][4] if rows else 0)


def _pg_count(list_id: int, query: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {_TABLE} m "
            "WHERE m.mailing_list_id = %s "
            "AND m.search_vector @@ websearch_to_tsquery('english', %s)",
            [list_id, query],
        )
        return int(cursor.fetchone()[0])


def fts5_query(query: str) -> str:
    """The user's words as an FTS5 expression: quoted terms ANDed, "phrases" kept, -word NOT.

    Everything is quoted, so FTS5 operators or column filters typed by a
    visitor are searched as words, never interpreted (and never an error).
    """
    include: list[str] = []
    exclude: list[str] = []
    for phrase, word in re.findall(r'"([^"]*)"|(-?[^\s"]+)', query):
        if phrase:
            terms = re.findall(r"\w+", phrase)
            if terms:
                include.append('"' + " ".join(terms) + '"')
            continue
        negative = word.startswith("-") and len(word) > 1
        terms = re.findall(r"\w+", word)
        if not terms:
            continue
        quoted = '"' + " ".join(terms) + '"'
        (exclude if negative else include).append(quoted)
    if not include:
        return ""
    expression = " AND ".join(include)
    for term in exclude:
        expression = f"({expression}) NOT {term}"
    return expression


def _sqlite(list_id: int, query: str, limit: int, offset: int) -> tuple[list, int]:
    expression = fts5_query(query)
    if not expression:
        return [], 0
    with connection.cursor() as cursor:
        # CROSS JOIN makes SQLite read the full-text matches first and look each
        # up by id; left to itself it may walk the list's messages and run the
        # MATCH once per message (seconds on a big archive).
        # Rank first, then mark up only the page: highlight() and snippet() in
        # the ranking query would run for every match, not just the 20 shown.
        # The total is a window over the same matches: one pass, not two.
        cursor.execute(
            f"""
            SELECT id, rank, count(*) OVER () AS total FROM (
                SELECT m.id, bm25(archive_fts, 10.0, 5.0, 1.0) AS rank, m.date
                FROM archive_fts CROSS JOIN {_TABLE} m ON m.id = archive_fts.rowid
                WHERE archive_fts MATCH %s AND m.mailing_list_id = %s
            )
            ORDER BY rank, date DESC, id DESC
            LIMIT %s OFFSET %s
            """,
            [expression, list_id, limit, offset],
        )
        ranked = cursor.fetchall()
        if not ranked:
            if not offset:
                return [], 0
            cursor.execute(  # past the last page: still say how many
                f"SELECT count(*) FROM archive_fts CROSS JOIN {_TABLE} m "
                "ON m.id = archive_fts.rowid WHERE archive_fts MATCH %s AND m.mailing_list_id = %s",
                [expression, list_id],
            )
            return [], int(cursor.fetchone()[0])
        total = ranked[0][2]
        marks = ", ".join(["%s"] * len(ranked))
        cursor.execute(
            f"""
            SELECT rowid, highlight(archive_fts, 0, %s, %s),
                   snippet(archive_fts, 2, %s, %s, ' … ', 25)
            FROM archive_fts WHERE archive_fts MATCH %s AND rowid IN ({marks})
            """,
            [MARK_START, MARK_END, MARK_START, MARK_END, expression, *[r[0] for r in ranked]],
        )
        marked = {row[0]: row[1:] for row in cursor.fetchall()}
    # bm25 is lower-is-better; turn it round so both engines rank high-is-better.
    return [(mid, *marked.get(mid, ("", "")), -rank) for mid, rank, _ in ranked], total
