"""The worker's SMTP client against Postfix's real reinjection listener (pipelining).

The listener does not offer CHUNKING (BDAT): Postfix 3.7's smtpd crashes when
the hand-off policy refuses a BDAT transaction with the next one pipelined
(docs/postfix.md, "The at-least-once boundary").
"""

from __future__ import annotations

import asyncio
import re

import pytest
from django.conf import settings

from listkeeper.delivery.smtp import Connection, Outcome, Transaction
from listkeeper.lists import services
from tests.support.worker import wait_for

pytestmark = pytest.mark.e2e

# Dot-stuffed, as the worker sends it with DATA.
BODY = b"From: Community <community@lists.example.org>\r\nSubject: {n}\r\n\r\n..starts with a dot\r\nBDAT 5 LAST\r\n"


def _send(transactions: list[Transaction]) -> tuple[Connection, list[tuple[str, Outcome]]]:
    results: list[tuple[str, Outcome]] = []

    async def go() -> Connection:
        conn = Connection(*settings.REINJECT_HOST)
        await conn.open()
        await conn.send_many(transactions, lambda t, o: results.append((t.tag, o)))
        await conn.close()
        return conn

    return asyncio.run(go()), results


def test_it_hands_several_copies_over_in_one_go_and_a_refused_one_does_not_upset_the_rest(
    postfix, ses, transactional_db
) -> None:
    def txn(n: str, rcpt: str) -> Transaction:
        return Transaction(
            f"community-bounces+{n}@lists.example.org",
            [rcpt],
            BODY.replace(b"{n}", n.encode()),
            tag=n,
        )

    conn, results = _send(
        [txn("one", "a@example.net"), txn("two", "not an address@@"), txn("three", "c@example.net")]
    )

    assert conn.pipelining and not conn.bdat, "Postfix offers PIPELINING, not CHUNKING"
    outcomes = dict(results)
    assert outcomes["one"].all_sent and outcomes["three"].all_sent
    (refusal,) = outcomes["two"].refused
    assert refusal is not None and refusal.code == 501
    got = ses.wait_for(2)
    assert sorted(m.message["Subject"] for m in got) == ["one", "three"]
    # Dot-stuffing undone, and message text never read as commands.
    assert all(b"\r\n.starts with a dot\r\nBDAT 5 LAST\r\n" in m.data for m in got)


def test_it_sends_copies_for_outside_addresses_unresolved_and_a_list_address_to_lmtp(
    mailpath,
) -> None:
    """The worker's direct sessions: Postfix FILTERs them to the relay (no lookup per copy);
    a member that is itself a list address still goes through the resolver to LMTP."""
    inner = mailpath.make_list("inner", members=0)
    outer = mailpath.make_list("outer", members=3, posting_policy="open")
    services.subscribe(outer, inner.address, actor="test")
    mailpath.start_worker()
    seen = len(mailpath.postfix.log_file.read_text())  # the instance is shared: this test's lines

    mailpath.post(outer.address, subject="Umbrella")

    mailpath.wait_delivered(outer)
    got = mailpath.ses.wait_for(3)
    assert sorted(r for m in got for r in m.rcpt_tos) == [
        f"outer.m{i}@example.net" for i in range(3)
    ]
    lmtp_port = settings.LMTP_LISTEN[1]
    wait_for(
        lambda: re.search(
            rf"to=<{re.escape(inner.address)}>, relay=[^,]*:{lmtp_port},.* status=sent",
            mailpath.postfix.log_file.read_text()[seen:],
        ),
        what="the copy to the inner list delivered over LMTP",
    )
    log = mailpath.postfix.log_file.read_text()[seen:]
    filtered = re.findall(r"triggers FILTER ses:\S+; from=<[^>]*> to=<([^>]*)>", log)
    assert sorted(set(filtered)) == [f"outer.m{i}@example.net" for i in range(3)]
    assert mailpath.copies_to(inner.address) == []
