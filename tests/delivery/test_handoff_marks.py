"""The hand-off policy's marks: one statement a group, written from the service's event loop.

The end-to-end side (Postfix asking, workers killed) is tests/e2e/test_handoff_once.py.
"""

from __future__ import annotations

import asyncio

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


def test_a_group_is_marked_in_one_statement_and_each_copy_gets_its_own_outcome(
    db, monkeypatch
) -> None:
    claimed, marked_before, sent, taken_back, stranger = _rows(5)
    Recipient.objects.filter(id=marked_before.id).update(sent_at="2026-01-02T03:04:05Z")
    Recipient.objects.filter(id=sent.id).update(state=RecipientState.SENT)
    Recipient.objects.filter(id=taken_back.id).update(state=RecipientState.PENDING, claimed_by="")
    copies = [
        (claimed.id, claimed.email),
        (marked_before.id, marked_before.email),
        (sent.id, sent.email),
        (taken_back.id, taken_back.email),
        (stranger.id, "somebody.else@example.net"),  # a genuine token, another recipient
        (10**9, "nobody@example.net"),  # no such row
    ]

    statements = _count_statements(monkeypatch)
    result = claims.mark_handed(copies)

    assert result == {
        claimed.id: claims.Mark.MARKED,
        marked_before.id: claims.Mark.MARKED,
        sent.id: claims.Mark.REPEAT,
        taken_back.id: claims.Mark.REPEAT,
        stranger.id: claims.Mark.UNKNOWN,
        10**9: claims.Mark.UNKNOWN,
    }
    # The update, and one read to tell the repeats from the strangers.
    assert [s.split()[0] for s in statements] == ["UPDATE", "SELECT"]
    rows = {r.id: r for r in Recipient.objects.all()}
    assert rows[claimed.id].sent_at is not None
    assert (
        rows[marked_before.id].sent_at.isoformat() == "2026-01-02T03:04:05+00:00"
    )  # the first mark kept
    assert rows[sent.id].sent_at is None and rows[taken_back.id].sent_at is None
    assert rows[stranger.id].sent_at is None, "a copy for another recipient marked the row"


def test_a_group_of_genuine_copies_is_one_statement(db, monkeypatch) -> None:
    rows = _rows(20)
    statements = _count_statements(monkeypatch)
    result = claims.mark_handed([(r.id, r.email) for r in rows])
    assert set(result.values()) == {claims.Mark.MARKED}
    assert len(statements) == 1
    assert Recipient.objects.filter(sent_at__isnull=True).count() == 0


REQUEST = (
    "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n"
    "sender=c-bounces+{token}@" + DOMAIN + "\nrecipient={email}\nrecipient_count=1\n\n"
)


async def _ask(port: int, row: Recipient) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST.format(token=tokens.verp_token(row.id), email=row.email).encode())
    answer = (await reader.readuntil(b"\n\n")).decode().strip()
    writer.close()
    return answer


@pytest.mark.django_db(transaction=True)
def test_the_service_marks_from_its_loop_and_a_broken_connection_answers_451_then_reconnects(
    settings,
) -> None:
    settings.SES_MAX_SEND_RATE = 0
    rows = _rows(8)

    async def scenario() -> list[str]:
        service = handoff.PolicyService()
        runner = asyncio.create_task(service.run())
        server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            # Six smtpds at once: answered together, each copy marked.
            answers = list(await asyncio.gather(*(_ask(port, r) for r in rows[:6])))
            assert service._marks.db is not None
            # The database goes away under the service: the copy is refused for now...
            service._marks.db.connection.close()
            answers.append(await _ask(port, rows[6]))
            # ... and the next one is marked on a new connection.
            answers.append(await _ask(port, rows[7]))
            return answers
        finally:
            server.close()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await asyncio.to_thread(service.close)

    answers = asyncio.run(scenario())

    assert answers == ["action=DUNNO"] * 6 + [f"action={handoff.TRY_LATER}", "action=DUNNO"]
    marked = set(Recipient.objects.filter(sent_at__isnull=False).values_list("id", flat=True))
    assert marked == {r.id for r in rows[:6]} | {rows[7].id}
