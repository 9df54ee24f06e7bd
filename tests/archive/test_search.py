from __future__ import annotations

from datetime import UTC, datetime, timedelta

from listkeeper.archive import search, store
from listkeeper.archive.search import MARK_END, MARK_START
from tests.support.archive import make_message

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def put(ml, n: int, subject: str, body: str, sender: str = "Alice <alice@example.com>") -> None:
    raw = make_message(
        subject, body, message_id=f"<s{n}@x>", date=T0 + timedelta(hours=n), sender=sender
    )
    assert store.archive_raw(ml, raw) is not None


def ids_of(results: search.Results) -> list[str]:
    return [h.message.message_id for h in results.hits]


def test_it_finds_words_in_subject_author_and_body_ranked_and_marked(ml) -> None:
    put(ml, 1, "Lunch", "The garden party needs volunteers.\n")
    put(ml, 2, "Garden party planning", "Who brings chairs?\n")
    put(ml, 3, "Unrelated", "Nothing to see here.\n")
    put(ml, 4, "Notes", "party games\n", sender="Gardener Garden <g@example.org>")

    results = search.search(ml, "garden party")

    assert results.total == 3
    assert ids_of(results)[0] == "<s2@x>"  # both words in the subject
    assert set(ids_of(results)) == {"<s1@x>", "<s2@x>", "<s4@x>"}
    top = results.hits[0]
    assert f"{MARK_START}Garden{MARK_END}" in top.subject
    body_hit = next(h for h in results.hits if h.message.message_id == "<s1@x>")
    assert f"{MARK_START}garden{MARK_END}" in body_hit.snippet


def test_it_searches_one_list_only(ml, db) -> None:
    from listkeeper.lists import services

    other = services.create_list("other", "lists.example.org", actor="test")
    put(ml, 1, "Secret plans", "hidden words\n")
    assert search.search(other, "secret").total == 0
    assert search.search(ml, "secret").total == 1


def test_search_syntax_from_a_visitor_is_never_an_error(ml) -> None:
    put(ml, 1, "Quotes", 'He said "hello world" AND NEAR(x) subject:foo\n')
    for query in ['"hello world"', "NEAR(x", "subject:foo", "-", '"', "AND OR NOT", "*", "^"]:
        search.search(ml, query)  # no exception on either database
    assert search.search(ml, '"hello world"').total == 1
    assert search.search(ml, "hello -world").total == 0


def test_the_total_counts_every_match_on_every_page(ml) -> None:
    for n in range(7):
        put(ml, n, f"Rota {n}", "kitchen duty\n")

    pages = [search.search(ml, "kitchen rota", limit=3, offset=k * 3) for k in range(4)]

    assert [len(p.hits) for p in pages] == [3, 3, 1, 0]
    assert [p.total for p in pages] == [7, 7, 7, 7]
    assert len({h.message.id for p in pages for h in p.hits}) == 7
