"""The hand-off policy's marks: one statement a group, written from the service's event loop.

The end-to-end side (Postfix asking, workers killed) is tests/e2e/test_handoff_once.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from listkeeper.delivery import claims, handoff
from listkeeper.delivery.models import Delivery, Recipient, RecipientState
from listkeeper.lib import tokens

DOMAIN = "lists.example.org"


def _rows(n: int) -> list[Recipient]:
    delivery = Delivery.objects.create(message=b"x", envelope_from=f"c-bounces@{DOMAIN}")
    Recipient.objects.bulk_create(
        Recipient(
            delivery=delivery,
            email=f"m{i}@example.net",
            state=RecipientState.CLAIMED,
            claimed_by="w",
        )
        for i in range(n)
    )
    return list(delivery.recipients.order_by("id"))


def _count_statements(monkeypatch) -> list[str]:
    """The statements mark_handed runs (on the DB-API connection, past Django's query log)."""
    statements: list[str] = []
    run = claims._rows

    def counted(db, sql, params, **options):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return run(db, sql, params, **options)

    monkeypatch.setattr(claims, "_rows", counted)
    return statements


def _copy(row: Recipient, queue_id: str = "", email: str | None = None) -> claims.Copy:
    return claims.Copy(row.id, email or row.email, queue_id or f"Q{row.id}")


def test_a_group_is_marked_in_one_statement_and_each_copy_gets_its_own_outcome(
    db, monkeypatch
) -> None:
    claimed, marked_before, sent, taken_back, stranger, other_copy = _rows(6)
    Recipient.objects.filter(id__in=[marked_before.id, other_copy.id]).update(
        sent_at="2026-01-02T03:04:05Z"
    )
    Recipient.objects.filter(id=marked_before.id).update(queue_id="4AskedAgain")
    Recipient.objects.filter(id=other_copy.id).update(queue_id="4FirstCopy")
    Recipient.objects.filter(id=sent.id).update(state=RecipientState.SENT)
    Recipient.objects.filter(id=taken_back.id).update(state=RecipientState.PENDING, claimed_by="")
    copies = [
        _copy(claimed),
        _copy(marked_before, "4AskedAgain"),  # Postfix asks again: same copy
        _copy(sent),
        _copy(taken_back),
        _copy(stranger, email="somebody.else@example.net"),  # a genuine token, another recipient
        claims.Copy(10**9, "nobody@example.net", "4Nobody"),  # no such row
        _copy(other_copy, "4SecondCopy"),  # another copy of a row already marked
    ]

    statements = _count_statements(monkeypatch)
    result = claims.mark_handed(copies)

    M = claims.Mark
    assert result == [M.MARKED, M.MARKED, M.REPEAT, M.REPEAT, M.UNKNOWN, M.UNKNOWN, M.REPEAT]
    # The update, and one read to tell the repeats from the strangers.
    assert [s.split()[0] for s in statements] == ["UPDATE", "SELECT"]
    rows = {r.id: r for r in Recipient.objects.all()}
    assert rows[claimed.id].sent_at is not None
    assert rows[claimed.id].queue_id == f"Q{claimed.id}"
    for first in (marked_before, other_copy):  # the first mark kept, and its copy's name
        assert rows[first.id].sent_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert rows[other_copy.id].queue_id == "4FirstCopy"
    assert rows[sent.id].sent_at is None and rows[taken_back.id].sent_at is None
    assert rows[stranger.id].sent_at is None, "a copy for another recipient marked the row"


def test_a_group_of_genuine_copies_is_one_statement(db, monkeypatch) -> None:
    rows = _rows(20)
    statements = _count_statements(monkeypatch)
    result = claims.mark_handed([_copy(r) for r in rows])
    assert set(result) == {claims.Mark.MARKED}
    assert len(statements) == 1
    assert Recipient.objects.filter(sent_at__isnull=True).count() == 0


def test_of_two_copies_of_one_row_the_first_asked_about_goes_and_the_other_is_a_repeat(
    db,
) -> None:
    """A killed worker's copy whose end of data comes after its successor claimed the row again.

    Whichever copy is asked about first is marked; the other is a repeat,
    asked about later or in the same group. Postfix asking again about the
    first (its answer lost) is the first, still marked.
    """
    late, successor, together = _rows(3)
    assert claims.mark_handed([_copy(late, "4Killed")]) == [claims.Mark.MARKED]
    assert claims.mark_handed([_copy(late, "4Successor")]) == [claims.Mark.REPEAT]
    assert claims.mark_handed([_copy(late, "4Killed")]) == [claims.Mark.MARKED]

    # The successor's copy first this time, then the killed worker's.
    assert claims.mark_handed([_copy(successor, "4Successor")]) == [claims.Mark.MARKED]
    assert claims.mark_handed([_copy(successor, "4Killed")]) == [claims.Mark.REPEAT]

    # Both in one group: one of them goes, whichever the statement took.
    result = claims.mark_handed([_copy(together, "4A"), _copy(together, "4B")])
    assert sorted(m.value for m in result) == ["marked", "repeat"]
    together.refresh_from_db()
    assert together.queue_id == ("4A" if result[0] is claims.Mark.MARKED else "4B")
    # Taken back and claimed again: the mark is gone with the row's return.
    claims.record("w", together.delivery_id, retry=[(together.id, "451 try again")])
    together.refresh_from_db()
    assert (together.sent_at, together.queue_id) == (None, None)


REQUEST = (
    "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n"
    "sender=c-bounces+{token}@" + DOMAIN + "\nrecipient={email}\nrecipient_count=1\n"
    "queue_id={queue_id}\n\n"
)


async def _ask(port: int, row: Recipient, queue_id: str = "") -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = REQUEST.format(
        token=tokens.verp_token(row.id), email=row.email, queue_id=queue_id or f"Q{row.id}"
    )
    writer.write(request.encode())
    answer = (await reader.readuntil(b"\n\n")).decode().strip()
    writer.close()
    return answer


@contextlib.asynccontextmanager
async def _serving() -> AsyncIterator[tuple[handoff.PolicyService, int]]:
    """A running policy service on a free port, closed with its database connection after."""
    service = handoff.PolicyService()
    runner = asyncio.create_task(service.run())
    server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
    try:
        yield service, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await asyncio.to_thread(service.close)


@pytest.mark.django_db(transaction=True)
def test_the_service_marks_from_its_loop_and_a_broken_connection_answers_451_then_reconnects(
    settings,
) -> None:
    settings.SES_MAX_SEND_RATE = 0
    rows = _rows(8)

    async def scenario() -> list[str]:
        async with _serving() as (service, port):
            # Six smtpds at once: answered together, each copy marked.
            answers = list(await asyncio.gather(*(_ask(port, r) for r in rows[:6])))
            assert service._marks.db is not None
            # The database goes away under the service: the copy is refused for now...
            service._marks.db.connection.close()
            answers.append(await _ask(port, rows[6]))
            # ... and the next one is marked on a new connection.
            answers.append(await _ask(port, rows[7]))
            return answers

    answers = asyncio.run(scenario())

    assert answers == ["action=DUNNO"] * 6 + [f"action={handoff.TRY_LATER}", "action=DUNNO"]
    marked = set(Recipient.objects.filter(sent_at__isnull=False).values_list("id", flat=True))
    assert marked == {r.id for r in rows[:6]} | {rows[7].id}


@pytest.mark.django_db(transaction=True)
def test_the_service_answers_each_copy_of_one_row_for_itself(settings) -> None:
    """Two copies of one row asked about together: one goes, the other is discarded."""
    settings.SES_MAX_SEND_RATE = 0
    (row,) = _rows(1)

    async def scenario() -> list[str]:
        async with _serving() as (_, port):
            together = await asyncio.gather(*(_ask(port, row, q) for q in ("4Late", "4Next")))
            again = await _ask(port, row, "4Late" if together[0] == "action=DUNNO" else "4Next")
            return [*together, again]

    *together, again = asyncio.run(scenario())

    assert sorted(together) == sorted(["action=DUNNO", f"action={handoff.DISCARD}"])
    assert again == "action=DUNNO", "Postfix asking again about the copy that went"
