"""The hand-off policy service: a copy is recorded as handed before Postfix says 250.

Postfix's reinjection smtpd asks this service (SMTPD_POLICY_README's protocol:
`name=value` lines, an empty line, one `action=` reply) at the end of the data
of every copy with a VERP sender (`NAME-bounces+TOKEN@DOMAIN`: one member's
personalised copy, the token naming its ledger row). Here the token is checked
(a keyed HMAC, `tokens.read_verp_token`), the row must be for that recipient,
and the row is marked handed (`claims.mark_handed`), durably, before the
answer goes back. Then Postfix finishes the queue file and answers 250.
When paced (SES_MAX_SEND_RATE set), every other sender the worker hands
over is asked about too, for the relay gate only: nothing is recorded.

So a worker killed after the data of a copy went out never sends that copy
again: its successor finds the mark (`claims.release_predecessor`,
`release_stale`). Marks that arrive together share one UPDATE and one commit
(group commit): each smtpd waits for its answer, so while one commit runs the
next requests gather.

Answers: DUNNO once marked (Postfix goes on and queues the copy); DISCARD
for a copy of a row that is no longer being sent (handed already, or taken
back to be sent again: this copy would be a repeat) or that another copy
marked (another Postfix queue id: a killed worker's copy and its
successor's, whichever came second); 451 when the mark
cannot be written (the worker sends the copy again later). A token that does
not verify or names another recipient is not marked (DUNNO, logged).

It runs in `listkeeper lmtpd` (and in `serve`), not in the worker: a worker
killed between writing a mark and answering would leave a marked copy that
Postfix refused (the policy's default action is a 4xx), so the service must
not die with the connections it judges. docs/postfix.md has the whole story.

The same port answers the delivery status filter of Postfix's SES transport
(`socketmap:` lookups, netstrings, told apart by their first byte, a digit):
one lookup a recipient, when SES has answered it. With the policy's answers
these feed the relay gate (`pacing.RelayGate`): a copy's answer waits while
SES could count it in a second already full, whatever Postfix's own timing.
The filter never changes a status (it answers NOTFOUND).

Postfix's container, told to stop, first closes the hand-off
(listkeeper/delivery/handoff_close.py): for a while every copy is refused with
a 451 before it is marked, so that when Postfix stops no smtpd is killed
between finishing a queue file and its 250 (the worker would send that copy
again: a repeat). The next start opens it again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection

from listkeeper.delivery import claims, quota
from listkeeper.delivery.handoff_close import CLOSE_REQUEST
from listkeeper.delivery.pacing import RelayGate
from listkeeper.lib import tokens

log = logging.getLogger(__name__)

DUNNO = "DUNNO"
DISCARD = "DISCARD duplicate of a copy already handed off"
TRY_LATER = "451 4.3.0 Cannot record the hand-off now, try again later"
CLOSED = "451 4.3.2 Postfix is stopping; send this copy again after its restart"
# SES's answer when the account went over its rate (shared/SES.md).
THROTTLED = re.compile(r"\b454\b|throttl", re.IGNORECASE)
# The gate re-reads the account's rate (SES_MAX_SEND_RATE, or SES's own when
# lower) this often.
RATE_EVERY = 2.0
# The longest a stopping Postfix may keep the hand-off closed, should it
# never start again to open it.
MAX_CLOSE = 120.0


def account_rate() -> float:
    """The rate the whole account may send at now; 0 for unpaced."""
    configured = settings.SES_MAX_SEND_RATE
    if configured <= 0:
        return 0.0
    try:
        return quota.rate_in_use(configured, quota.fresh())
    except DatabaseError:
        return configured


def verp_row(sender: str) -> int | None:
    """The ledger row a VERP sender's token names, or None (no token, or forged)."""
    local, at, _ = sender.rpartition("@")
    if not at or "-bounces+" not in local:
        return None
    token = local.rsplit("+", 1)[1]
    try:
        return tokens.read_verp_token(token)
    except tokens.BadToken:
        return None


@dataclass
class _Ask:
    copy: claims.Copy
    answer: asyncio.Future[str] = field(repr=False)


class PolicyService:
    """The marks, written from the event loop's thread, several per statement."""

    def __init__(self) -> None:
        # For connecting and for the account's rate: Django code that may not
        # run in the loop's thread.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handoff-db")
        self._marks = claims.MarkConnection()
        self._asks: list[_Ask] = []
        self._wanted = asyncio.Event()
        self.marked = 0  # for logs and tests
        self.clients: set[asyncio.StreamWriter] = set()
        self.gate = RelayGate(settings.SES_MAX_SEND_RATE)
        self.statuses = 0  # delivery statuses seen, for logs and tests
        self.closed_until = 0.0  # time.monotonic(); see handoff_close.py

    async def decide(self, request: dict[str, str]) -> str:
        if request.get("request") == CLOSE_REQUEST:
            return self._close(request.get("seconds", ""))
        if request.get("protocol_state", "").upper() != "END-OF-MESSAGE":
            return DUNNO
        if time.monotonic() < self.closed_until:
            return CLOSED
        try:
            n = max(1, int(request.get("recipient_count", "1")))
        except ValueError:
            n = 1
        # Wait for room at SES first, then record: the mark and the answer
        # stay as close together as they were.
        await self.gate.admit(n)
        answer = await self._record(request)
        if answer != DUNNO:
            self.gate.withdraw(n)
        return answer

    def _close(self, seconds: str) -> str:
        try:
            length = min(max(0.0, float(seconds)), MAX_CLOSE)
        except ValueError:
            return "500 seconds= must be a number"
        self.closed_until = time.monotonic() + length
        if length:
            log.info("hand-off closed for %g s: Postfix is stopping", length)
        else:
            log.info("hand-off open")
        return "OK"

    def status(self, key: str) -> None:
        """A delivery status of the SES transport: "4.7.0 host ... said: 454 ..."."""
        self.statuses += 1
        self.gate.answered(throttled=key.startswith("4") and bool(THROTTLED.search(key)))

    async def _record(self, request: dict[str, str]) -> str:
        sender = request.get("sender", "")
        recipient = request.get("recipient", "")
        row = verp_row(sender)
        if row is None:
            if "-bounces+" in sender and not sender.split("+", 1)[1].startswith("probe-"):
                log.warning("hand-off: %r has no valid token; not recorded", sender)
            return DUNNO
        if not recipient or request.get("recipient_count", "1") != "1":
            log.warning("hand-off: %r for %s recipients; not recorded", sender, "several")
            return DUNNO
        # Postfix names the copy at the end of its data; the mark keeps the
        # name, to tell Postfix asking again from another copy of the row.
        queue_id = request.get("queue_id", "")[:64]
        ask = _Ask(
            claims.Copy(row, recipient, queue_id), asyncio.get_running_loop().create_future()
        )
        self._asks.append(ask)
        self._wanted.set()
        return await ask.answer

    async def run(self) -> None:
        """Write the marks as they come, until cancelled.

        The statement runs in this thread and blocks the loop while it runs
        (SQLite: a fraction of a millisecond; PostgreSQL: its commit): the
        requests that arrive meanwhile wait in their sockets and make the
        next group. The smtpds woken together are all read before this task
        runs again, so they share a statement without a timer.
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            batch, self._asks = self._asks, []
            if not batch:
                continue
            try:
                if self._marks.db is None:
                    await loop.run_in_executor(self._db, self._marks.open)
                outcomes = self._marks.mark([a.copy for a in batch])
            except DatabaseError as exc:
                log.warning("hand-off: cannot record %d copies: %s", len(batch), exc)
                self._marks.close()
                answers = [TRY_LATER] * len(batch)
            except Exception:
                log.exception("hand-off: recording %d copies failed", len(batch))
                answers = [TRY_LATER] * len(batch)
            else:
                answers = [self._answer(a.copy, o) for a, o in zip(batch, outcomes, strict=True)]
            for a, answer in zip(batch, answers, strict=True):
                if not a.answer.done():
                    a.answer.set_result(answer)

    def _answer(self, copy: claims.Copy, outcome: claims.Mark) -> str:
        if outcome is claims.Mark.MARKED:
            self.marked += 1
            return DUNNO
        if outcome is claims.Mark.REPEAT:
            log.warning(
                "hand-off: copy %s of row %d is a repeat (the row is handed, taken back, "
                "or marked by another copy); discarded",
                copy.queue_id or "(no queue id)",
                copy.row,
            )
            return DISCARD
        log.warning("hand-off: row %d is not a copy for %s; not recorded", copy.row, copy.email)
        return DUNNO

    async def follow_rate(self) -> None:
        """Keep the gate at the account's rate, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                self.gate.set_rate(await loop.run_in_executor(self._db, account_rate))
            except Exception:
                log.exception("hand-off: cannot read the account's rate")
            await asyncio.sleep(RATE_EVERY)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One Postfix client: policy requests, or status lookups, one after the other."""
        self.clients.add(writer)
        try:
            first = await reader.read(1)
            if first.isdigit():
                await self._lookups(first, reader, writer)
                return
            pending = first
            while True:
                # A request is name=value lines and an empty line; Postfix writes
                # "\n" line ends. One read a request, not one a line: the
                # policy is on the path of every copy.
                block = pending + await reader.readuntil(b"\n\n")
                pending = b""
                request: dict[str, str] = {}
                for line in block.decode("utf-8", "replace").splitlines():
                    name, _, value = line.partition("=")
                    if name:
                        request[name] = value
                action = await self.decide(request)
                writer.write(f"action={action}\n\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()

    async def _lookups(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Postfix's socketmap protocol: netstring "NAME KEY" in, "NOTFOUND " out."""
        head = first
        while True:
            if not head:
                head = await reader.read(1)
                if not head:
                    return
            try:
                size = head + (await reader.readuntil(b":"))[:-1]
            except asyncio.LimitOverrunError:
                size = b""
            head = b""
            payload = await reader.readexactly(int(size) + 1) if size.isdigit() else b""
            if payload[-1:] != b",":
                log.warning("hand-off: a status lookup that is not a netstring; closing")
                return
            _, _, key = payload[:-1].decode("utf-8", "replace").partition(" ")
            self.status(key)
            writer.write(b"9:NOTFOUND ,")
            await writer.drain()

    def close(self) -> None:
        self._marks.close()
        self._db.submit(lambda: connection.close())
        self._db.shutdown(wait=True)


async def serve(
    host: str, port: int, stop: asyncio.Event, ready: asyncio.Future[int] | None = None
) -> None:
    """Answer Postfix's hand-off policy requests until `stop` is set."""
    service = PolicyService()
    writer_task = asyncio.create_task(service.run())
    rate_task = asyncio.create_task(service.follow_rate())
    server = await asyncio.start_server(service.handle, host, port, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    log.info("hand-off policy listening on %s:%d", host, bound)
    if ready is not None:
        ready.set_result(bound)
    try:
        await stop.wait()
    finally:
        server.close()
        # Marks in progress get their answers before the service goes.
        for _ in range(50):
            if not service._asks:
                break
            await asyncio.sleep(0.1)
        writer_task.cancel()
        rate_task.cancel()
        await asyncio.gather(writer_task, rate_task, return_exceptions=True)
        for client in list(service.clients):
            client.close()
        await asyncio.to_thread(service.close)
        p50, p90, p99 = service.gate.delay_quantiles()
        log.info(
            "hand-off policy stopped (%d copies recorded, %d held for SES's rate; "
            "hand-off to SES's answer p50 %.0f ms, p90 %.0f ms, p99 %.0f ms)",
            service.marked,
            service.gate.held,
            p50 * 1000,
            p90 * 1000,
            p99 * 1000,
        )
