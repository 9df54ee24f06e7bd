"""Claiming ledger rows and recording how they went: the worker's database side.

Every function here is synchronous Django ORM code, run by the worker in its
database thread and called directly by tests.

Claims are atomic: on PostgreSQL the rows are picked with
`SELECT ... FOR UPDATE SKIP LOCKED` and flipped to `claimed` in the same
transaction, so two workers never hold the same row; on SQLite the
transaction takes the write lock when it begins (transaction_mode IMMEDIATE),
which serialises claimers. Results are written only for rows still claimed by
the worker that sent them.

A personalised copy is marked handed by the hand-off policy service
(`mark_handed`, listkeeper/delivery/handoff.py) at the end of its data, before
Postfix answers 250: the row stays `claimed`, with `sent_at` set. A worker
that dies leaves rows `claimed`. Any live worker takes them back once the dead
worker's heartbeat is older than WORKER_STALE_AFTER: marked rows become
`sent` (Postfix has them), the others `pending`, so only unmarked copies that
were in flight (shared copies and notices, which have no VERP token) can be
sent twice. A worker that starts under the name of one
that was killed (a restarted container keeps its hostname) takes that name's
claims back itself before it claims anything (`release_predecessor`): its own
heartbeat would otherwise keep them "live" for ever. For the same reason a
worker whose claim committed but whose next query failed (the database went
away in between) hands those rows back through its recorder once the
database answers (`worker.Stranded`), and one whose claim may have
committed with its answer lost takes back, at its next heartbeat, every row
claimed under its name that it does not hold (`release_unheld`).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, Count, Exists, F, Q, QuerySet, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from listkeeper.delivery import ledger
from listkeeper.delivery.models import (
    Delivery,
    JobState,
    Recipient,
    RecipientState,
    WorkerHeartbeat,
)
from listkeeper.lists.models import MailingList, Subscription

CHUNK = 500  # ids per IN (...) list, well inside every backend's parameter limit


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    rows: list[tuple[int, str, int | None]]  # (recipient id, email, member id)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i : i + CHUNK]


def _open_deliveries() -> list[tuple[int, bool]]:
    """(id, still being recorded) of deliveries with work left, in the order to serve them."""
    # Our own notices (no post, no digest) first: a confirmation should not
    # wait behind a 100,000-member fan-out.
    notice = Case(When(post__isnull=True, digest__isnull=True, then=0), default=1)
    return [
        (id_, after is not None)
        for id_, after in Delivery.objects.filter(state__in=[JobState.PENDING, JobState.RUNNING])
        .order_by(notice, "id")
        .values_list("id", "expand_after")[:50]
    ]


def list_domains() -> frozenset[str]:
    """The domains Postfix routes to LMTP (main.cf's relay_domains), lower-cased.

    Read at every claim, so a list created during a fan-out is known to the
    next claim, as Postfix's live lookup knows it.
    """
    domains = MailingList.objects.values_list("domain", flat=True).distinct()
    return frozenset({settings.LISTKEEPER_DOMAIN.lower(), *(d.lower() for d in domains)})


def finish_if_done(delivery_id: int) -> bool:
    """Mark a delivery done when no row is waiting or being sent."""
    busy = Recipient.objects.filter(
        delivery_id=delivery_id, state__in=[RecipientState.PENDING, RecipientState.CLAIMED]
    )
    done = (
        Delivery.objects.filter(id=delivery_id, expand_after__isnull=True)
        .exclude(state=JobState.DONE)
        .filter(~Exists(busy))
        .update(state=JobState.DONE, finished=timezone.now())
    )
    return bool(done)


def claim(worker: str, limit: int) -> Claimed | None:
    """Claim up to `limit` pending recipients of the oldest open delivery.

    A delivery whose ledger is still being recorded gets its next chunk at
    every call, so the snapshot of a big list completes within seconds of
    the post being accepted, one short transaction at a time.
    """
    for delivery_id, expanding in _open_deliveries():
        if expanding:
            ledger.record_more(delivery_id)
        with transaction.atomic():
            pending = list(
                Recipient.objects.select_for_update(skip_locked=True)
                .filter(delivery_id=delivery_id, state=RecipientState.PENDING)
                .order_by("id")
                .values_list("id", "email", "member_id")[:limit]
            )
            rows = _drop_departed(delivery_id, pending)
            if rows:
                Recipient.objects.filter(
                    id__in=[r[0] for r in rows], state=RecipientState.PENDING
                ).update(state=RecipientState.CLAIMED, claimed_by=worker, claimed_at=timezone.now())
                Delivery.objects.filter(id=delivery_id, state=JobState.PENDING).update(
                    state=JobState.RUNNING
                )
                return Claimed(delivery_id, rows)
        finish_if_done(delivery_id)
    return None


def _drop_departed(
    delivery_id: int, rows: Sequence[tuple[int, str, int | None]]
) -> list[tuple[int, str, int | None]]:
    """Mark `skipped` the rows of members who stopped receiving since the snapshot.

    A one-click unsubscribe, a hard bounce or a switch to nomail must stop the
    copies a big fan-out has not sent yet, not only the next post's.
    """
    list_id = (
        Delivery.objects.filter(id=delivery_id)
        .values_list(Coalesce("post__mailing_list_id", "digest__mailing_list_id"), flat=True)
        .first()
    )
    member_ids = {m for _, _, m in rows if m is not None}
    if list_id is None or not member_ids:
        return list(rows)
    receiving = set(
        Subscription.objects.filter(
            ledger.receiving(list_id), member_id__in=member_ids
        ).values_list("member_id", flat=True)
    )
    departed = [r[0] for r in rows if r[2] is not None and r[2] not in receiving]
    if departed:
        Recipient.objects.filter(id__in=departed, state=RecipientState.PENDING).update(
            state=RecipientState.SKIPPED
        )
    return [r for r in rows if r[2] is None or r[2] in receiving]


def record(
    worker: str,
    delivery_id: int,
    sent: Sequence[int] = (),
    failed: Sequence[tuple[int, str]] = (),
    retry: Sequence[tuple[int, str]] = (),
    lost: Sequence[tuple[int, str]] = (),
) -> None:
    """Write what Postfix answered, for rows this worker still holds.

    `failed` and `retry` are Postfix's own refusals (4xx/5xx after the data:
    nothing was queued, so a mark made at end-of-data is void). `lost` are
    rows whose connection broke before an answer: they go again, marked or
    not. A live worker loses its connection mostly because Postfix stopped,
    and smtpd killed after the mark most likely died before cleanup finished
    the queue file (docs/postfix.md, "The at-least-once boundary").
    """
    now = timezone.now()
    mine = Q(delivery_id=delivery_id, state=RecipientState.CLAIMED, claimed_by=worker)
    with transaction.atomic():
        n_sent = 0
        for ids in _chunks(list(sent)):
            n_sent += Recipient.objects.filter(mine, id__in=ids).update(
                state=RecipientState.SENT, sent_at=now, error=""
            )
        n_failed = 0
        for rid, error in failed:
            n_failed += Recipient.objects.filter(mine, id=rid).update(
                state=RecipientState.FAILED, error=error[:500], sent_at=None, queue_id=None
            )
        # Refused for now: back in the queue, with the reason for `deliveries`.
        by_error: dict[str, list[int]] = {}
        for rid, error in [*retry, *lost]:
            by_error.setdefault(error[:500], []).append(rid)
        for error, rids in by_error.items():
            for ids in _chunks(rids):
                Recipient.objects.filter(mine, id__in=ids).update(
                    state=RecipientState.PENDING,
                    claimed_by="",
                    claimed_at=None,
                    sent_at=None,
                    queue_id=None,
                    error=error,
                )
        if n_sent or n_failed:
            Delivery.objects.filter(id=delivery_id).update(
                handed_off=F("handed_off") + n_sent, failed=F("failed") + n_failed
            )
    # Not finish_if_done here: it would cost a query per write during a big
    # fan-out; `claim` finishes a delivery when it finds nothing left to claim.


class Mark(enum.Enum):
    MARKED = "marked"  # recorded as handed: Postfix may queue it
    REPEAT = "repeat"  # the row is not being sent (handed already, or taken back)
    UNKNOWN = "unknown"  # no such row, or not this recipient's


@dataclass(frozen=True)
class Copy:
    """One copy at the end of its data, as the hand-off policy sees it."""

    row: int  # the ledger row its VERP token names
    email: str  # its one recipient
    queue_id: str  # Postfix's name for this copy ("" if Postfix sent none)


def mark_handed(copies: Sequence[Copy], db: BaseDatabaseWrapper | None = None) -> list[Mark]:
    """Mark copies as handed, in one statement (and its commit); an outcome for each.

    Called by the hand-off policy service at the end of each copy's data,
    before Postfix queues it, for the copies that arrived together. The mark
    is the row's `sent_at` and the copy's `queue_id`: a row already marked
    answers MARKED again only for the same queue id (Postfix asks again when
    an answer is lost), and REPEAT for any other copy of it. That other copy
    is a killed worker's, whose end of data arrived after its successor had
    taken the row back and claimed it again: whichever of the two is asked
    about first goes, the other is discarded. The policy is on the path of
    every copy, so this is one UPDATE ... RETURNING written out, not the
    ORM's three statements (1.7 ms of CPU per call against 0.2 ms,
    bench/policy.py), on the DB-API connection of `db` (the policy's own,
    `MarkConnection`; Django's `connection` when None); a copy it did not
    mark is read again only to tell a repeat from a stranger.
    """
    db = db or connection
    if not copies:
        return []
    table = db.ops.quote_name(Recipient._meta.db_table)
    now = db.ops.adapt_datetimefield_value(timezone.now())
    claimed = RecipientState.CLAIMED.value
    if db.vendor == "postgresql":
        # One text for any group size (arrays, not a placeholder per copy), so
        # PostgreSQL prepares it once per connection and the driver binds
        # values instead of quoting them into the text. Two copies of one row
        # in a group: one of them updates it, and RETURNING names which.
        marked = _rows(
            db,
            f"UPDATE {table} AS r SET sent_at = COALESCE(r.sent_at, %s), queue_id = c.queue_id "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS c(id, email, queue_id) "
            "WHERE r.id = c.id AND r.email = c.email AND r.state = %s "
            # Not marked yet, or marked by this very copy (a mark from before
            # the column, NULL, counts as a copy without a queue id).
            "AND (r.sent_at IS NULL OR COALESCE(r.queue_id, '') = c.queue_id) "
            "RETURNING r.id, r.queue_id",
            [
                now,
                [c.row for c in copies],
                [c.email for c in copies],
                [c.queue_id for c in copies],
                claimed,
            ],
            prepare=True,
        )
    else:
        # SQLite: the same per row with CASE id ... END; of two copies of one
        # row in a group, CASE takes the first.
        in_ids = ", ".join(["%s"] * len(copies))
        cases = " ".join(["WHEN %s THEN %s"] * len(copies))
        emails = [v for c in copies for v in (c.row, c.email)]
        queue_ids = [v for c in copies for v in (c.row, c.queue_id)]
        marked = _rows(
            db,
            f"UPDATE {table} SET sent_at = COALESCE(sent_at, %s), "
            f"queue_id = CASE id {cases} END "
            f"WHERE id IN ({in_ids}) AND state = %s AND email = CASE id {cases} END "
            f"AND (sent_at IS NULL OR COALESCE(queue_id, '') = CASE id {cases} END) "
            "RETURNING id, queue_id",
            [now, *queue_ids, *(c.row for c in copies), claimed, *emails, *queue_ids],
        )
    holder = dict(marked)  # row -> the queue id its mark now names
    result = [
        Mark.MARKED if c.row in holder and holder[c.row] == c.queue_id else Mark.UNKNOWN
        for c in copies
    ]
    rest = sorted({c.row for c, m in zip(copies, result, strict=True) if m is Mark.UNKNOWN})
    if rest:
        rows = {
            row_id: (email, state, sent_at is not None, queue_id or "")
            for row_id, email, state, sent_at, queue_id in _rows(
                db,
                f"SELECT id, email, state, sent_at, queue_id FROM {table} "
                f"WHERE id IN ({', '.join(['%s'] * len(rest))})",
                list(rest),
            )
        }
        for i, c in enumerate(copies):
            if result[i] is not Mark.UNKNOWN or c.row not in rows:
                continue
            email, state, is_marked, queue_id = rows[c.row]
            if email != c.email:
                continue  # another recipient's row: a stranger
            if state != claimed or (is_marked and queue_id != c.queue_id):
                result[i] = Mark.REPEAT  # sent, failed, taken back, or another copy's
            elif is_marked:
                result[i] = Mark.MARKED
            # Claimed and unmarked, yet not marked now (a stranger's copy of the
            # same row came first in the group): left UNKNOWN, so it goes unmarked.
    return result


def _rows(
    db: BaseDatabaseWrapper, sql: str, params: list[object], prepare: bool = False
) -> list[tuple[Any, ...]]:
    """One statement on db's DB-API connection, autocommitted unless in a transaction.

    `prepare` (PostgreSQL): bound on the server and prepared on first use,
    with a cursor of psycopg's own (Django's binds on the client).
    """
    if db.connection is None:
        db.ensure_connection()
    with db.wrap_database_errors:
        if prepare and db.vendor == "postgresql":
            import psycopg

            with psycopg.Cursor(db.connection) as server_side:
                server_side.execute(sql, params, prepare=True)
                return list(server_side.fetchall())
        cursor = db.connection.cursor()
        try:
            cursor.execute(sql.replace("%s", "?") if db.vendor == "sqlite" else sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()


class MarkConnection:
    """The hand-off policy's own database connection, used from its event loop's thread.

    Django neither opens a connection nor runs a query through its wrapper in
    a thread with a running event loop (SynchronousOnlyOperation), and a hop
    to a database thread per group of copies doubled the policy's CPU per
    copy (bench/policy.py: 0.81 against 0.45 ms with one smtpd). So the
    wrapper is made and connected in another thread (`open`) and
    `mark_handed` runs its statements on the DB-API connection directly: one
    statement, committed by itself (autocommit), blocks the loop for its
    duration, and the requests that arrive meanwhile make the next group.
    """

    def __init__(self) -> None:
        self.db: BaseDatabaseWrapper | None = None

    def open(self) -> None:
        """Connect; call it from a thread without an event loop."""
        db = connections.create_connection(DEFAULT_DB_ALIAS)
        db.ensure_connection()
        db.inc_thread_sharing()
        self.db = db

    def mark(self, copies: Sequence[Copy]) -> list[Mark]:
        assert self.db is not None
        return mark_handed(copies, self.db)

    def close(self) -> None:
        """Drop the connection (after an error, or at the end); `open` makes a new one."""
        db, self.db = self.db, None
        if db is not None and db.connection is not None:
            try:
                db.connection.close()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail any way
                pass


def _take_back(rows: QuerySet[Recipient]) -> int:
    """Claimed rows back: marked ones are sent (Postfix has them), the rest pending.

    Returns how many went back to pending.
    """
    marked = rows.filter(sent_at__isnull=False)
    counts = dict(
        marked.values("delivery_id").annotate(n=Count("id")).values_list("delivery_id", "n")
    )
    if counts:
        marked.update(state=RecipientState.SENT, error="")
        for delivery_id, n in counts.items():
            Delivery.objects.filter(id=delivery_id).update(handed_off=F("handed_off") + n)
    return rows.update(state=RecipientState.PENDING, claimed_by="", claimed_at=None)


def heartbeat(worker: str, stale_after: float) -> int:
    """Say this worker is alive; return how many workers are alive (itself included)."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=worker, defaults={"seen": now})
    return WorkerHeartbeat.objects.filter(seen__gte=now - timedelta(seconds=stale_after)).count()


def release_stale(stale_after: float) -> int:
    """Give the claims of workers not seen for `stale_after` seconds back to pending.

    Every live worker runs this every few seconds, during fan-outs too, so it
    must cost next to nothing: claimed rows exist only in open deliveries, and
    (delivery, state) is indexed, so it reads those deliveries' claimed rows
    instead of scanning every recipient ever recorded; and it writes nothing
    unless some worker has gone quiet.
    """
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    if not WorkerHeartbeat.objects.filter(seen__lt=cutoff).exists():
        return 0  # every worker that ever claimed is alive (or left cleanly)
    live = WorkerHeartbeat.objects.filter(seen__gte=cutoff).values("name")
    open_ = Delivery.objects.filter(state__in=[JobState.PENDING, JobState.RUNNING]).values("id")
    with transaction.atomic():
        released = _take_back(
            Recipient.objects.filter(
                delivery_id__in=open_, state=RecipientState.CLAIMED, claimed_at__lt=cutoff
            ).exclude(claimed_by__in=live)
        )
        WorkerHeartbeat.objects.filter(seen__lt=timezone.now() - timedelta(days=1)).delete()
    return released


def release_predecessor(worker: str) -> int:
    """At start, before the first claim: what an earlier run under this name left claimed.

    Names are unique among running workers (host:pid, or the container's
    hostname), so claims under our own name at start-up belong to a run that
    was killed. Those marked handed are sent; the rest go back to pending and
    are sent again through the pacer.
    """
    with transaction.atomic():
        return _take_back(Recipient.objects.filter(state=RecipientState.CLAIMED, claimed_by=worker))


def release_unheld(worker: str, held: Collection[int]) -> int:
    """Rows claimed under `worker`'s name that it does not hold: back to the ledger.

    A claim whose COMMIT reached the server but whose answer was lost with
    the connection leaves rows claimed by a live worker that never saw them;
    its heartbeat would keep them from every worker for as long as it runs.
    The worker calls this after such a failure, from the thread that makes
    its claims and records its results, so `held` (claimed and not yet
    recorded) is exact: anything else claimed under its name is one of those.
    """
    open_ = Delivery.objects.filter(state__in=[JobState.PENDING, JobState.RUNNING]).values("id")
    with transaction.atomic():
        ours = Recipient.objects.filter(
            delivery_id__in=open_, state=RecipientState.CLAIMED, claimed_by=worker
        )
        unheld = [rid for rid in ours.values_list("id", flat=True) if rid not in held]
        return sum(
            _take_back(Recipient.objects.filter(id__in=ids, state=RecipientState.CLAIMED))
            for ids in _chunks(unheld)
        )


def release_own(worker: str) -> int:
    """On a clean stop: what this worker claimed but did not send goes back."""
    with transaction.atomic():
        released = _take_back(
            Recipient.objects.filter(state=RecipientState.CLAIMED, claimed_by=worker)
        )
        WorkerHeartbeat.objects.filter(name=worker).delete()
    return released


def on_database_error() -> None:
    """Drop a broken connection so the next call reconnects (database restarted)."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a dead connection may fail any way
        pass
