"""The hand-off policy service: a copy is recorded as handed before Postfix says 250.

Postfix's reinjection smtpd asks this service (SMTPD_POLICY_README's protocol:
`name=value` lines, an empty line, one `action=` reply) at the end of the data
of every copy with a VERP sender (`NAME-bounces+TOKEN@DOMAIN`: one member's
personalised copy, the token naming its ledger row). Here the token is checked
(a keyed HMAC, `tokens.read_verp_token`), the row must be for that recipient,
and the row is marked handed (`claims.mark_handed`), durably, before the
answer goes back. Then Postfix finishes the queue file and answers 250.

So a worker killed after the data of a copy went out never sends that copy
again: its successor finds the mark (`claims.release_predecessor`,
`release_stale`). Marks that arrive together share one UPDATE and one commit
(group commit): each smtpd waits for its answer, so while one commit runs the
next requests gather.

Answers: DUNNO once marked (Postfix goes on and queues the copy); DISCARD
for a copy of a row that is no longer being sent (handed already, or taken
back to be sent again: this copy would be a repeat); 451 when the mark
cannot be written (the worker sends the copy again later). A token that does
not verify or names another recipient is not marked (DUNNO, logged).

It runs in `listkeeper lmtpd` (and in `serve`), not in the worker: a worker
killed between writing a mark and answering would leave a marked copy that
Postfix refused (the policy's default action is a 4xx), so the service must
not die with the connections it judges. docs/postfix.md has the whole story.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import DatabaseError, connection

from listkeeper.delivery import claims
from listkeeper.lib import tokens

log = logging.getLogger(__name__)

# After the first request of a batch, wait this long for others before the
# commit. The smtpds block on their answers, so more gather during each commit
# anyway; this only groups those that arrive together.
GATHER = 0.001
DUNNO = "DUNNO"
DISCARD = "DISCARD duplicate of a copy already handed off"
TRY_LATER = "451 4.3.0 Cannot record the hand-off now, try again later"


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
    row: int
    recipient: str
    answer: asyncio.Future[str] = field(repr=False)


class PolicyService:
    """The marks, written in one database thread, several per commit."""

    def __init__(self) -> None:
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handoff-db")
        self._asks: asyncio.Queue[_Ask] = asyncio.Queue()
        self.marked = 0  # for logs and tests
        self.commits = 0
        self.clients: set[asyncio.StreamWriter] = set()

    async def decide(self, request: dict[str, str]) -> str:
        if request.get("protocol_state", "").upper() != "END-OF-MESSAGE":
            return DUNNO
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
        ask = _Ask(row, recipient, asyncio.get_running_loop().create_future())
        self._asks.put_nowait(ask)
        return await ask.answer

    async def run(self) -> None:
        """Write the marks as they come, until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._asks.get()]
            await asyncio.sleep(GATHER)
            while not self._asks.empty():
                batch.append(self._asks.get_nowait())
            try:
                results = await loop.run_in_executor(
                    self._db, claims.mark_handed, [(a.row, a.recipient) for a in batch]
                )
                self.commits += 1
            except DatabaseError as exc:
                log.warning("hand-off: cannot record %d copies: %s", len(batch), exc)
                await loop.run_in_executor(self._db, claims.on_database_error)
                results = {}
                answers = {a.row: TRY_LATER for a in batch}
            except Exception:
                log.exception("hand-off: recording %d copies failed", len(batch))
                results = {}
                answers = {a.row: TRY_LATER for a in batch}
            else:
                answers = {}
                for a in batch:
                    outcome = results.get(a.row, claims.Mark.UNKNOWN)
                    if outcome is claims.Mark.MARKED:
                        self.marked += 1
                        answers[a.row] = DUNNO
                    elif outcome is claims.Mark.REPEAT:
                        log.warning(
                            "hand-off: row %d is not being sent; discarding a repeat", a.row
                        )
                        answers[a.row] = DISCARD
                    elif outcome is claims.Mark.UNSURE:
                        answers[a.row] = TRY_LATER
                    else:
                        log.warning(
                            "hand-off: row %d is not a copy for %s; not recorded",
                            a.row,
                            a.recipient,
                        )
                        answers[a.row] = DUNNO
            for a in batch:
                if not a.answer.done():
                    a.answer.set_result(answers[a.row])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One Postfix policy client: requests one after the other on one connection."""
        self.clients.add(writer)
        try:
            while True:
                request: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if not line:
                        return
                    line = line.rstrip(b"\r\n")
                    if not line:
                        break
                    name, _, value = line.decode("utf-8", "replace").partition("=")
                    request[name] = value
                action = await self.decide(request)
                writer.write(f"action={action}\n\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()

    def close(self) -> None:
        self._db.submit(lambda: connection.close())
        self._db.shutdown(wait=True)


async def serve(
    host: str, port: int, stop: asyncio.Event, ready: asyncio.Future[int] | None = None
) -> None:
    """Answer Postfix's hand-off policy requests until `stop` is set."""
    service = PolicyService()
    writer_task = asyncio.create_task(service.run())
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
            if service._asks.empty():
                break
            await asyncio.sleep(0.1)
        writer_task.cancel()
        await asyncio.gather(writer_task, return_exceptions=True)
        for client in list(service.clients):
            client.close()
        await asyncio.to_thread(service.close)
        log.info("hand-off policy stopped (%d copies recorded)", service.marked)
