"""The fan-out worker: ledger rows in, copies handed to Postfix, results recorded.

One asyncio loop runs
- a feeder that claims rows in batches (`claims.claim`) and turns them into
  SMTP transactions (one per member on personalised lists, up to 50
  recipients each otherwise), keeping only a bounded queue of them in memory;
- WORKER_CONNECTIONS senders, each owning one persistent connection to
  Postfix's reinjection listener, building each copy just before it goes;
- a recorder that writes results back as they come, several transactions per
  database commit when they arrive faster than one commit takes;
- a heartbeat that first takes back what a killed earlier run under the same
  name left claimed, then keeps this worker's claims alive, releases those of
  dead workers and re-divides the SES rate among the live ones;
- a quota watch that reads SES's own rate and 24-hour quota (`quota`) and
  holds back what the 24-hour quota cannot take yet.

All database work runs in one thread (Django's ORM is synchronous), so the
loop never waits on the database while copies are being sent.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection

from listkeeper.delivery import claims, personalise, quota
from listkeeper.delivery.models import Delivery
from listkeeper.delivery.pacing import Pacer, max_batch, share_of_rate
from listkeeper.delivery.smtp import DIRECT_HELO, Connection, Outcome, SMTPError, Transaction
from listkeeper.lists.models import MailingList

log = logging.getLogger(__name__)
T = TypeVar("T")

IDLE_POLL = 0.1  # seconds between looks at the ledger when there is nothing to do
CLAIM_SIZE = 200  # rows per claim when unpaced
# Unpaced, a connection sends up to this many queued transactions at once
# (one write with BDAT). These are the transactions "in flight" that a crash
# can repeat, so the number stays small.
PIPELINE_DEPTH = 16
PIPELINE_BYTES = 4 * 1024 * 1024
# Unpaced, results are written at most this often. A copy handed off but not yet
# recorded can be repeated after a SIGKILL only when the hand-off policy did
# not mark it (no VERP token: shared copies, notices), so this also bounds those. Paced, each connection waits for its last transaction's
# result to be committed before it sends the next, so a SIGKILL can repeat at
# most the one transaction each connection has in flight (the at-least-once
# boundary, docs/postfix.md).
RECORD_EVERY = 0.05
# Every live worker recounts the live workers (and so its share of the SES
# rate) this often; a worker that joins waits this long before its first send.
RECOUNT_EVERY = 1.0
# A connection unused for this long is reopened (Postfix's smtpd times out at 300 s).
IDLE_RECONNECT = 60.0
# How often the 24-hour quota left is worked out again (from SES's last answer
# and the ledger), while SES's figures are known.
QUOTA_CHECK_EVERY = 5.0
# At start the feeder waits this long at most for SES's first answer; a slow
# API (or boto3 probing for credentials) must not hold up the mail.
QUOTA_FIRST_WAIT = 5.0


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


@dataclass
class Template:
    prepared: personalise.Prepared
    mailing_list: MailingList | None
    personalised: bool
    envelope_from: str


@dataclass
class Job:
    """One SMTP transaction: one member's copy, or one shared copy to a few.

    `routed`: a recipient is in a list domain (a list subscribed to a list, a
    notice to a list address), so Postfix must resolve it (to LMTP); every
    other job goes over a direct session (`smtp.DIRECT_HELO`).
    """

    delivery_id: int
    template: Template
    rows: list[tuple[int, str, int | None]]
    routed: bool = False

    def envelope(self, *, stuffed: bool) -> tuple[str, list[str], bytes]:
        """Sender, recipients and the copy (dot-stuffed for DATA, as is for BDAT)."""
        t = self.template
        if t.personalised and t.mailing_list is not None:
            rid, email, member_id = self.rows[0]
            assert member_id is not None
            data = personalise.copy_for(t.prepared, member_id, stuffed=stuffed)
            return personalise.verp_sender(t.mailing_list, rid), [email], data
        return (
            t.envelope_from,
            [r[1] for r in self.rows],
            personalise.shared_copy(t.prepared, stuffed=stuffed),
        )


class Stranded(Exception):
    """Rows claimed, then a database error before they became jobs."""

    def __init__(self, batch: claims.Claimed, cause: DatabaseError) -> None:
        super().__init__(f"{len(batch.rows)} rows claimed, then {cause}")
        self.batch = batch


@dataclass
class Result:
    delivery_id: int
    sent: list[int]
    failed: list[tuple[int, str]]
    retry: list[tuple[int, str]]
    # Sent, but the connection broke before Postfix answered (claims.record).
    lost: list[tuple[int, str]] = field(default_factory=list)
    # Set once the result is committed; a paced sender waits for it (see _send).
    recorded: asyncio.Event | None = None

    @classmethod
    def unsent(cls, delivery_id: int, rows: Sequence[tuple[int, Any, Any]], why: str) -> Result:
        """Claimed rows that were not sent: back to pending when the recorder writes it."""
        return cls(delivery_id, [], [], [(r[0], f"not sent: {why}") for r in rows])


def _in_list_domain(address: str, ours: frozenset[str]) -> bool:
    """Whether Postfix routes `address` to LMTP: a list domain or below one
    (relay_domains matches subdomains, parent_domain_matches_subdomains)."""
    domain = address.rpartition("@")[2].lower()
    while domain:
        if domain in ours:
            return True
        domain = domain.partition(".")[2]
    return False


def outcome_to_result(job: Job, outcome: Outcome) -> Result:
    result = Result(job.delivery_id, [], [], [])
    for (rid, _, _), refusal in zip(job.rows, outcome.refused, strict=True):
        if refusal is None:
            result.sent.append(rid)
        elif refusal.temporary:
            result.retry.append((rid, f"Postfix deferred: {refusal}"))
        else:
            result.failed.append((rid, f"Postfix refused: {refusal}"))
    return result


class Worker:
    def __init__(
        self,
        *,
        name: str,
        host: str,
        port: int,
        connections: int,
        account_rate: float,
        stale_after: float,
        claim_size: int = CLAIM_SIZE,
        headroom: float | None = None,
    ) -> None:
        self.name = name
        self.host, self.port = host, port
        self.connections = connections
        self.account_rate = account_rate
        self.stale_after = stale_after
        self.claim_size = claim_size
        self.pacer = Pacer(
            share_of_rate(account_rate, 1),
            headroom=settings.SES_RATE_HEADROOM if headroom is None else headroom,
        )
        self.stopping = asyncio.Event()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-db")
        self._jobs: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=2 * claim_size)
        self._results: asyncio.Queue[Result] = asyncio.Queue()
        self._templates: collections.OrderedDict[int, Template] = collections.OrderedDict()
        self._alive_until = 0.0  # monotonic time our claims are safe until
        self._live = 1  # workers sharing the account, at the last recount
        self.ses_rate = 0.0  # SES's own MaxSendRate when known and fresh, else 0
        # Recipients this worker may still claim under the 24-hour quota (None: no limit known).
        self.quota_left: float | None = None
        self.quota_every = settings.SES_QUOTA_REFRESH
        # Why SES's quota is not asked at all, when the caller knows (serve's catcher).
        self.quota_off = ""
        self._quota_checked = asyncio.Event()  # the first look at the quota is done
        self.sent = 0  # copies handed off by this worker, for logs and tests
        # Ledger rows this worker holds: claimed and not yet recorded. Touched
        # only in the database thread, so it matches the ledger whenever a
        # database call runs there.
        self._held: set[int] = set()
        # A claim failed: it may have committed with its answer lost, leaving
        # rows claimed under our name that we never saw (`_release_unheld`).
        self._claim_unsure = False

    @classmethod
    def from_settings(cls, name: str = "") -> Worker:
        """The worker the settings describe; `name` overrides WORKER_NAME (default host:pid)."""
        host, port = settings.REINJECT_HOST
        return cls(
            name=name or settings.WORKER_NAME or default_name(),
            host=host,
            port=port,
            connections=settings.WORKER_CONNECTIONS,
            account_rate=settings.SES_MAX_SEND_RATE,
            stale_after=settings.WORKER_STALE_AFTER,
        )

    # Database calls, in the database thread ----------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        def run() -> T:
            try:
                return fn(*args)
            except DatabaseError:
                claims.on_database_error()
                raise

        return await asyncio.get_running_loop().run_in_executor(self._db, run)

    def _template(self, delivery_id: int) -> Template:
        if delivery_id in self._templates:
            self._templates.move_to_end(delivery_id)
            return self._templates[delivery_id]
        d = Delivery.objects.select_related("post__mailing_list", "digest__mailing_list").get(
            id=delivery_id
        )
        ml = d.post.mailing_list if d.post is not None else None
        if d.digest is not None:
            ml = d.digest.mailing_list
        template = Template(
            prepared=personalise.prepare(bytes(d.message), ml, personalised=d.personalised),
            mailing_list=ml,
            personalised=d.personalised and ml is not None,
            envelope_from=d.envelope_from,
        )
        self._templates[delivery_id] = template
        while len(self._templates) > 8:
            self._templates.popitem(last=False)
        return template

    def _claim_jobs(self, limit: int, per_job: int) -> list[Job]:
        try:
            batch = claims.claim(self.name, limit)
        except DatabaseError:
            # The connection may have broken after the server committed the
            # claim and before we read its answer.
            self._claim_unsure = True
            raise
        if batch is None:
            return []
        self._held.update(r[0] for r in batch.rows)
        try:
            return self._jobs_for(batch, per_job)
        except DatabaseError as exc:
            # The claim is committed but the database went away before the
            # copies were ready: the rows are ours in the ledger and in no
            # queue here, and our heartbeat, renewed after the outage, would
            # keep them from every worker for as long as we run.
            raise Stranded(batch, exc) from exc

    def _jobs_for(self, batch: claims.Claimed, per_job: int) -> list[Job]:
        template = self._template(batch.delivery_id)
        ours = claims.list_domains()
        if template.personalised:
            orphans = [(r[0], "member erased before sending") for r in batch.rows if r[2] is None]
            if orphans:
                self._write(Result(batch.delivery_id, [], orphans, []))
            return [
                Job(batch.delivery_id, template, [r], _in_list_domain(r[1], ours))
                for r in batch.rows
                if r[2] is not None
            ]
        rows = batch.rows
        jobs = []
        for i in range(0, len(rows), per_job):
            part = rows[i : i + per_job]
            jobs.append(
                Job(
                    batch.delivery_id,
                    template,
                    part,
                    any(_in_list_domain(r[1], ours) for r in part),
                )
            )
        return jobs

    def _write(self, result: Result) -> None:
        """Record `result` in the ledger; its rows are no longer ours to hold."""
        claims.record(
            self.name, result.delivery_id, result.sent, result.failed, result.retry, result.lost
        )
        self._held.difference_update(result.sent)
        self._held.difference_update(r[0] for r in (*result.failed, *result.retry, *result.lost))

    def _release_unheld(self) -> int:
        """After a claim that may have committed unseen: its rows back to the ledger."""
        released = claims.release_unheld(self.name, self._held)
        self._claim_unsure = False
        return released

    # The parts of the loop ---------------------------------------------------

    def _alive(self) -> bool:
        return time.monotonic() < self._alive_until

    async def _heartbeat(self) -> None:
        release_every = max(RECOUNT_EVERY, self.stale_after / 4)
        last_release = float("-inf")
        joined = False
        took_back = False
        while not self.stopping.is_set():
            try:
                started = time.monotonic()
                if not took_back:
                    # Here, not before the loop: the database may be down when we
                    # start, and the feeder claims nothing until this has run
                    # (it waits for _alive), so no claim of ours is released.
                    released = await self._call(claims.release_predecessor, self.name)
                    took_back = True
                    if released:
                        log.warning(
                            "took back %d recipients an earlier run of %s left claimed",
                            released,
                            self.name,
                        )
                live = await self._call(claims.heartbeat, self.name, self.stale_after)
                self._live = live
                if self._claim_unsure:
                    released = await self._call(self._release_unheld)
                    if released:
                        log.warning(
                            "took back %d recipients a claim left ours unseen "
                            "(its answer was lost with the database connection)",
                            released,
                        )
                self.pacer.set_rate(self._share())
                if not joined and live > 1 and self.account_rate > 0:
                    # The others still pace at their old share until their next
                    # recount; sending now would put more than the account's
                    # rate on SES for up to RECOUNT_EVERY.
                    await asyncio.sleep(RECOUNT_EVERY * 1.5)
                    started = time.monotonic()
                joined = True
                # Our claims are ours while our heartbeat is fresh; stop sending
                # well before another worker could count us dead.
                self._alive_until = started + self.stale_after / 2
                if started - last_release >= release_every:
                    last_release = started
                    released = await self._call(claims.release_stale, self.stale_after)
                    if released:
                        log.warning(
                            "took back %d recipients claimed by a worker that stopped", released
                        )
            except DatabaseError as exc:
                log.warning("heartbeat failed, database unavailable: %s", exc)
            try:
                await asyncio.wait_for(
                    self.stopping.wait(), min(RECOUNT_EVERY, self.stale_after / 4)
                )
            except TimeoutError:
                pass

    def _share(self) -> float:
        rate = self.account_rate
        if rate > 0 and self.ses_rate > 0:
            rate = min(rate, self.ses_rate)
        return share_of_rate(rate, self._live)

    async def _watch_quota(self) -> None:
        """SES's figures every `quota_every` seconds (one worker asks, all read them)."""
        reason = self.quota_off or (
            quota.disabled_reason() if self.quota_every > 0 else "SES_QUOTA_REFRESH is 0"
        )
        if reason:
            log.info("SES quota not read: %s; pacing at SES_MAX_SEND_RATE", reason)
            self._quota_checked.set()
            return
        held_logged = False
        while not self.stopping.is_set():
            try:
                every = quota.HELD_REFRESH if held_logged else self.quota_every
                if await self._call(quota.due, min(every, self.quota_every)):
                    try:
                        result: quota.Quota | quota.QuotaUnavailable = await asyncio.to_thread(
                            quota.fetch
                        )
                    except quota.QuotaUnavailable as exc:
                        result = exc
                    await self._call(quota.store, result)
                standing = await self._call(quota.standing)
                if standing is None:
                    self.ses_rate, self.quota_left = 0.0, None
                else:
                    self.ses_rate = standing.quota.max_send_rate
                    # Each live worker may claim its share of what is left.
                    self.quota_left = standing.left / max(1, self._live)
                    if standing.held and not held_logged:
                        log.warning(
                            "SES 24-hour quota: %d of %d used, %d copies waiting; sending "
                            "what fits and holding %d until SES's rolling window frees",
                            standing.used,
                            standing.quota.max_24h_send,
                            standing.waiting,
                            standing.held,
                        )
                    elif held_logged and not standing.held:
                        log.info("SES 24-hour quota: the held copies fit again")
                    held_logged = bool(standing.held)
                self.pacer.set_rate(self._share())
            except DatabaseError as exc:
                log.warning("cannot check the SES quota, database unavailable: %s", exc)
            except Exception:
                log.exception("checking the SES quota failed")
            self._quota_checked.set()
            try:
                await asyncio.wait_for(
                    self.stopping.wait(), min(QUOTA_CHECK_EVERY, self.quota_every)
                )
            except TimeoutError:
                pass

    async def _feed(self) -> None:
        try:
            # Not a copy before SES's own rate and quota are known (or known unknown).
            await asyncio.wait_for(self._quota_checked.wait(), QUOTA_FIRST_WAIT)
        except TimeoutError:
            pass
        while not self.stopping.is_set():
            if not self._alive():
                await asyncio.sleep(0.1)
                continue
            rate = self.pacer.rate
            limit = self.claim_size
            if rate > 0:
                # Paced, a second of copies in hand is enough: claims top it up.
                # Claiming up to the queue's bound (20 s at 20/s) kept the
                # database thread busy, and the recorder every paced send waits
                # for behind it, during the first seconds of a fan-out; it is
                # what a SIGKILL leaves claimed for WORKER_STALE_AFTER; and with
                # several workers, what one still holds when the others run
                # out is sent at its share of the rate alone (four seconds of
                # copies in hand cost two workers 4% of the rate at the end of
                # a 500-copy fan-out).
                limit = max(1, min(self.claim_size, int(rate))) - self._jobs.qsize()
            if limit <= 0:
                try:
                    await asyncio.wait_for(self.stopping.wait(), IDLE_POLL)
                except TimeoutError:
                    pass
                continue
            if self.quota_left is not None:
                if self.quota_left < 1:
                    # Over SES's 24-hour quota: the rows wait, pending, for the window.
                    try:
                        await asyncio.wait_for(self.stopping.wait(), 1.0)
                    except TimeoutError:
                        pass
                    continue
                limit = max(1, min(limit, int(self.quota_left)))
            try:
                jobs = await self._call(self._claim_jobs, limit, max_batch(rate))
            except Stranded as exc:
                log.warning(
                    "claimed %d recipients, then the database went away (%s); "
                    "they go back to the ledger once it answers",
                    len(exc.batch.rows),
                    exc.__cause__,
                )
                # The recorder writes them back to pending, retrying until it can.
                self._results.put_nowait(
                    Result.unsent(exc.batch.delivery_id, exc.batch.rows, "the database went away")
                )
                jobs = []
                await asyncio.sleep(1)
            except DatabaseError as exc:
                log.warning("cannot claim recipients, database unavailable: %s", exc)
                jobs = []
                await asyncio.sleep(1)
            except Exception:
                # A bug or an odd row must not stop the worker; what it claimed
                # goes back to pending when it stops or is counted dead.
                log.exception("claiming recipients failed")
                jobs = []
                await asyncio.sleep(1)
            if not jobs:
                try:
                    await asyncio.wait_for(self.stopping.wait(), IDLE_POLL)
                except TimeoutError:
                    pass
                continue
            if self.quota_left is not None:
                self.quota_left -= sum(len(job.rows) for job in jobs)
            for job in jobs:
                await self._jobs.put(job)
        for _ in range(self.connections):
            await self._jobs.put(None)

    def _next_batch(self, first: Job) -> tuple[list[Job], bool]:
        """`first` plus whatever else is queued, for one pipelined run; and whether to stop after."""
        batch, size = [first], first.template.prepared.size
        if self.pacer.rate > 0:
            return batch, False  # paced: each transaction goes at its own moment
        while len(batch) < PIPELINE_DEPTH and size < PIPELINE_BYTES:
            try:
                job = self._jobs.get_nowait()
            except asyncio.QueueEmpty:
                break
            if job is None:
                return batch, True
            batch.append(job)
            size += job.template.prepared.size
        return batch, False

    async def _send(self, index: int) -> None:
        # Copies for outside addresses go over a direct session; the rare job
        # with a recipient in a list domain over a routed one, opened when needed.
        direct = Connection(self.host, self.port, helo=DIRECT_HELO)
        routed = Connection(self.host, self.port)
        backoff = 0.5
        last_used = {id(direct): 0.0, id(routed): 0.0}
        try:
            last = False
            while not last:
                first = await self._jobs.get()
                if first is None:
                    return
                batch, last = self._next_batch(first)
                if self.stopping.is_set():
                    continue  # left claimed; release_own hands it back
                if not self._alive():
                    # Our heartbeat lapsed (database unreachable): back to the
                    # ledger once it answers, unless another worker counted us
                    # dead and took them already. Left claimed, our own renewed
                    # heartbeat would keep them from everyone, us included.
                    for job in batch:
                        self._results.put_nowait(
                            Result.unsent(
                                job.delivery_id, job.rows, "the worker's heartbeat lapsed"
                            )
                        )
                    continue
                finished: set[int] = set()
                deferred = False
                paced = self.pacer.rate > 0
                recorded: list[asyncio.Event] = []

                def done(txn: Transaction, outcome: Outcome) -> None:
                    nonlocal deferred
                    finished.add(id(txn.tag))  # noqa: B023 - called before this iteration ends
                    result = outcome_to_result(txn.tag, outcome)
                    deferred = deferred or bool(result.retry)
                    if paced:  # noqa: B023 - as above
                        result.recorded = asyncio.Event()
                        recorded.append(result.recorded)  # noqa: B023 - as above
                    self._results.put_nowait(result)

                try:
                    for conn in (direct, routed):
                        jobs = [job for job in batch if job.routed is (conn is routed)]
                        if not jobs:
                            continue
                        if (
                            conn.connected
                            and time.monotonic() - last_used[id(conn)] > IDLE_RECONNECT
                        ):
                            # Postfix's smtpd drops an idle client after its timeout;
                            # start afresh rather than find out by a failed send.
                            await conn.close()
                        if not conn.connected:
                            await conn.open()
                        transactions = []
                        for job in jobs:
                            sender, rcpts, data = job.envelope(stuffed=not conn.bdat)
                            await self.pacer.acquire(len(rcpts))
                            transactions.append(Transaction(sender, rcpts, data, tag=job))
                        await conn.send_many(transactions, done)
                        last_used[id(conn)] = time.monotonic()
                    for event in recorded:
                        await event.wait()
                except SMTPError as exc:
                    log.warning("connection %d: %s; retrying in %.1fs", index, exc, backoff)
                    for job in batch:
                        if id(job) not in finished:
                            self._results.put_nowait(
                                Result(
                                    job.delivery_id,
                                    [],
                                    [],
                                    [],
                                    lost=[(r[0], str(exc)) for r in job.rows],
                                )
                            )
                    deferred = True
                if deferred:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                else:
                    backoff = 0.5
        finally:
            await direct.close()
            await routed.close()

    async def _record(self) -> None:
        while True:
            first = await self._results.get()
            batch = [first]
            while not self._results.empty():
                batch.append(self._results.get_nowait())
            merged: dict[int, Result] = {}
            for r in batch:
                m = merged.setdefault(r.delivery_id, Result(r.delivery_id, [], [], []))
                m.sent += r.sent
                m.failed += r.failed
                m.retry += r.retry
                m.lost += r.lost
            for m in merged.values():
                while True:
                    try:
                        await self._call(self._write, m)
                        break
                    except DatabaseError as exc:
                        log.warning("cannot record results, retrying: %s", exc)
                        await asyncio.sleep(1)
                    except Exception:
                        log.exception("recording results failed, retrying")
                        await asyncio.sleep(1)
                self.sent += len(m.sent)
            for r in batch:
                if r.recorded is not None:
                    r.recorded.set()
                self._results.task_done()
            if not self.stopping.is_set() and self.pacer.rate <= 0:
                # Let results gather: one write per RECORD_EVERY instead of one per
                # copy keeps the database (and the GIL) free for the hand-off.
                await asyncio.sleep(RECORD_EVERY)

    async def run(self) -> None:
        """Until `stopping` is set; then finish in-flight transactions and hand back the rest."""
        log.info(
            "worker %s sending to %s:%d over %d connections, %s",
            self.name,
            self.host,
            self.port,
            self.connections,
            f"at most {self.account_rate:g} recipients/s" if self.account_rate > 0 else "unpaced",
        )
        heartbeat = asyncio.create_task(self._heartbeat())
        watch = asyncio.create_task(self._watch_quota())
        recorder = asyncio.create_task(self._record())
        senders = [asyncio.create_task(self._send(i)) for i in range(self.connections)]
        try:
            await self._feed()
            await asyncio.gather(*senders)
            await self._results.join()
        finally:
            self.stopping.set()
            for task in [*senders, recorder, watch]:
                task.cancel()
            await asyncio.gather(heartbeat, watch, *senders, recorder, return_exceptions=True)
            try:
                released = await self._call(claims.release_own, self.name)
                if released:
                    log.info("handed back %d claimed recipients", released)
            except DatabaseError as exc:
                log.warning("could not hand back claims (another worker will): %s", exc)
            self._db.submit(lambda: connection.close())  # resolved in the database thread
            self._db.shutdown(wait=True)
