"""Putting messages into the archive, threaded; taking one out.

`archive_post` runs inside the transaction that queues an accepted (or
approved) post for delivery, so a post is archived exactly when it is sent.
Imports archive a batch at a time through the same `store_many`, which reads
what it needs for a whole batch in a few queries and inserts with bulk_create.

Threading is JWZ-like and decided here, once: the nearest In-Reply-To /
References ancestor already archived is the parent; failing that, a "Re:"
subject joins the latest thread with the same subject (60 days); a message
that arrives before its parent is adopted when the parent comes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Max, Min
from django.utils import timezone

from listkeeper.archive import ids, parse
from listkeeper.archive.models import ArchivedMessage, Month, Removed, Thread
from listkeeper.lists import services
from listkeeper.lists.models import ArchiveVisibility, MailingList
from listkeeper.mail.models import Post

SEGMENT = 6  # digits per path segment: a million messages per thread
# Deeper replies are shown as siblings of their parent: a 500-deep chain
# would otherwise be unreadable (and make paths long).
MAX_DEPTH = 40
SUBJECT_WINDOW = timedelta(days=60)


def archives(ml: MailingList) -> bool:
    return ml.archive_visibility != ArchiveVisibility.OFF


def archive_post(post: Post) -> ArchivedMessage | None:
    """Archive a post that is being queued for delivery (call inside that transaction).

    The original message is kept as the author sent it (no list footer or
    subject tag), with the Message-ID the copies carry. None when the list
    keeps no archive or this Message-ID is already archived (or was removed).
    """
    ml = post.mailing_list
    if not archives(ml):
        return None
    raw = original(bytes(post.raw))
    parsed = parse.read(raw, ml)
    if not parsed.message_id and post.message_id:
        raw = f"Message-ID: {post.message_id}\\r\\n".encode("ascii", "replace") + raw
        parsed.message_id = ids.normalise_message_id(post.message_id)
    date = parse.live_date(parsed, post.received or timezone.now())
    return store_many(ml, [Item(raw, parsed, date, post)])[0]


def archive_raw(
    ml: MailingList, raw: bytes, fallback_date: datetime | None = None
) -> ArchivedMessage | None:
    """Archive a message from elsewhere: dated by Date, else Received, else
    `fallback_date` (an mbox "From " line), else now."""
    return store_many(ml, [item_from(ml, raw, fallback_date)])[0]


def item_from(ml: MailingList, raw: bytes, fallback_date: datetime | None = None) -> Item:
    parsed = parse.read(raw, ml)
    return Item(raw, parsed, parsed.date or fallback_date or timezone.now())


def original(raw: bytes) -> bytes:
    """The message without an mbox "From " line it may start with."""
    if raw.startswith(b"From "):
        end = raw.find(b"\\n")
        return raw[end + 1 :] if end >= 0 else b""
    return raw


@dataclass
class Item:
    raw: bytes
    parsed: parse.Parsed
    date: datetime
    post: Post | None = None


@dataclass
class _Thread:
    row: Thread
    new: bool
    root: _Node | None = None


@dataclass
class _Node:
    slug: str
    thread: _Thread
    path: str
    depth: int


@dataclass
class _Batch:
    """What a batch needs to know about the archive, read in a few queries."""

    ml: MailingList
    nodes: dict[str, _Node] = field(default_factory=dict)  # by message slug
    threads: dict[int, _Thread] = field(default_factory=dict)  # existing threads by id
    by_slug: dict[str, _Thread] = field(default_factory=dict)  # threads by slug
    by_subject: dict[str, list[_Thread]] = field(default_factory=dict)

    def thread(self, row: Thread) -> _Thread:
        found = self.threads.get(row.id)
        if found is None:
            found = self.threads[row.id] = _Thread(row, new=False)
            self.by_slug[row.slug] = found
        return found


# No savepoint: a post is archived inside the transaction that queues it, and
# an error here must undo that whole transaction anyway (two statements saved
# on every accepted post).
@transaction.atomic(savepoint=False)
def store_many(ml: MailingList, items: list[Item]) -> list[ArchivedMessage | None]:
    """Archive messages in order; None for those without a Message-ID or already archived."""
    slugs = [ids.slug(i.parsed.message_id) if i.parsed.message_id else "" for i in items]
    taken, had_thread = _known(ml, [s for s in slugs if s])
    batch = _prefetch(ml, items, slugs, had_thread)
    results: list[ArchivedMessage | None] = []
    created: list[ArchivedMessage] = []
    months: Counter[tuple[int, int]] = Counter()
    for item, slug in zip(items, slugs, strict=True):
        if not slug or slug in taken:
            results.append(None)
            continue
        taken.add(slug)
        message = _place(batch, item, slug)
        results.append(message)
        created.append(message)
        months[(item.date.year, item.date.month)] += 1
    if not created:
        return results
    new_threads = [t.row for t in batch.by_slug.values() if t.new]
    Thread.objects.bulk_create(new_threads)
    for message in created:
        message.thread_id = message.thread.id
    _insert(ml, created)
    touched = [t.row for t in batch.threads.values()]
    Thread.objects.bulk_update(touched, ["next_seq", "count", "last_date", "started"])
    for (year, month), count in months.items():
        _count_month(ml, year, month, count)
    _adopt(ml, [m.slug for m in created])
    return results


def _insert(ml: MailingList, messages: list[ArchivedMessage]) -> None:
    """Insert new messages in one statement per batch (COPY on PostgreSQL).

    bulk_create builds one statement with 21 parameters a row and, on
    PostgreSQL, binds them client-side: most of an import's time went there.
    The search columns are filled by the database itself (a generated
    tsvector column, or FTS5 triggers), in the same statement.
    """
    fields = [f for f in ArchivedMessage._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(ArchivedMessage._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    rows = [
        tuple(f.get_db_prep_save(getattr(m, f.attname), connection) for f in fields)
        for m in messages
    ]
    with connection.cursor() as cursor:
        if len(rows) == 1:  # a post as it is accepted: its id in the same statement
            marks = ", ".join(["%s"] * len(fields))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING id", rows[0]
            )
            messages[0].pk = cursor.fetchone()[0]
            messages[0]._state.adding = False
            messages[0]._state.db = connection.alias
            return
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    inserted = dict(
        ArchivedMessage.objects.filter(
            mailing_list=ml, slug__in=[m.slug for m in messages]
        ).values_list("slug", "id")
    )
    for m in messages:
        m.pk = inserted[m.slug]
        m._state.adding = False
        m._state.db = connection.alias


def _known(ml: MailingList, slugs: list[str]) -> tuple[set[str], set[str]]:
    """Of these slugs: those archived or removed, and those that name a thread.

    One query, as it runs for every accepted post.
    """
    if not slugs:
        return set(), set()
    marks = ", ".join(["%s"] * len(slugs))
    tables = [
        (ArchivedMessage._meta.db_table, "m"),
        (Removed._meta.db_table, "r"),
        (Thread._meta.db_table, "t"),
    ]
    sql = " UNION ALL ".join(
        f"SELECT slug, '{kind}' FROM {table} WHERE mailing_list_id = %s AND slug IN ({marks})"
        for table, kind in tables
    )
    with connection.cursor() as cursor:
        params: list[int | str] = []
        for _ in tables:
            params += [ml.id, *slugs]
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {s for s, kind in rows if kind != "t"}, {s for s, kind in rows if kind == "t"}


def _prefetch(ml: MailingList, items: list[Item], slugs: list[str], had_thread: set[str]) -> _Batch:
    batch = _Batch(ml)
    wanted = {ids.slug(mid) for item in items for mid in item.parsed.parent_ids}
    if wanted:
        rows = ArchivedMessage.objects.filter(mailing_list=ml, slug__in=wanted).values_list(
            "slug", "thread_id", "path", "depth"
        )
        found = list(rows)
        threads = Thread.objects.select_for_update().in_bulk({r[1] for r in found})
        for slug, thread_id, path, depth in found:
            batch.nodes[slug] = _Node(slug, batch.thread(threads[thread_id]), path, depth)
    # A message whose thread survived its removal starts that thread again.
    if had_thread:
        for row in Thread.objects.select_for_update().filter(mailing_list=ml, slug__in=had_thread):
            batch.thread(row)
    keys = {ids.subject_key(i.parsed.subject) for i in items if _may_join_by_subject(i)}
    keys.discard("")
    if keys:
        since = min(i.date for i in items) - SUBJECT_WINDOW
        for row in Thread.objects.select_for_update().filter(
            mailing_list=ml, subject_key__in=keys, last_date__gte=since
        ):
            batch.by_subject.setdefault(row.subject_key, []).append(batch.thread(row))
    return batch


def _may_join_by_subject(item: Item) -> bool:
    _, replied = ids.strip_prefixes(item.parsed.subject)
    return replied or bool(item.parsed.parent_ids)


def _place(batch: _Batch, item: Item, slug: str) -> ArchivedMessage:
    parsed, date = item.parsed, item.date
    parents = parsed.parent_ids
    parent = next(
        (batch.nodes[s] for s in (ids.slug(mid) for mid in parents) if s in batch.nodes), None
    )
    key = ids.subject_key(parsed.subject)
    if parent is None and key and _may_join_by_subject(item):
        candidates = [
            t
            for t in batch.by_subject.get(key, [])
            if t.row.last_date >= date - SUBJECT_WINDOW and t.row.started <= date
        ]
        if candidates:
            parent = _root(batch, max(candidates, key=lambda t: t.row.last_date))
    if parent is not None:
        thread = parent.thread
    else:
        thread = batch.by_slug.get(slug) or _new_thread(batch, slug, parsed.subject, key, date)
    thread.row.next_seq += 1
    segment = f"{thread.row.next_seq:0{SEGMENT}d}"
    if parent is None:
        path, depth = segment, 0
    elif parent.depth >= MAX_DEPTH:
        path, depth = parent.path[:-SEGMENT] + segment, parent.depth
    else:
        path, depth = parent.path + segment, parent.depth + 1
    node = batch.nodes[slug] = _Node(slug, thread, path, depth)
    if thread.root is None and parent is None and thread.new:
        thread.root = node
    row = thread.row
    row.count += 1
    row.last_date = max(row.last_date, date)
    row.started = min(row.started, date)
    return ArchivedMessage(
        mailing_list=batch.ml,
        post=item.post,
        thread=row,
        reply_to=parent.slug if parent else "",
        message_id=parsed.message_id[:998],
        slug=slug,
        parent_slug=ids.slug(parents[0]) if parents else "",
        in_reply_to=parsed.in_reply_to[:998],
        references=" ".join(parsed.references),
        subject=parsed.subject,
        author_name=parsed.author_name,
        author_email=parsed.author_email,
        date=date,
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        raw=item.raw,
        size=len(item.raw),
        attachments=[a.as_json() for a in parsed.attachments],
        path=path,
        depth=depth,
    )


def _new_thread(batch: _Batch, slug: str, subject: str, key: str, date: datetime) -> _Thread:
    row = Thread(
        mailing_list=batch.ml,
        slug=slug,
        subject=subject,
        subject_key=key,
        started=date,
        last_date=date,
        count=0,
        next_seq=0,
    )
    thread = batch.by_slug[slug] = _Thread(row, new=True)
    if key:
        batch.by_subject.setdefault(key, []).append(thread)
    return thread


def _root(batch: _Batch, thread: _Thread) -> _Node:
    if thread.root is None:
        slug, path, depth = ArchivedMessage.objects.filter(thread_id=thread.row.id).order_by(
            "path"
        ).values_list("slug", "path", "depth").first() or ("", "", 0)
        thread.root = _Node(slug, thread, path, depth)
    return thread.root


def _adopt(ml: MailingList, slugs: list[str]) -> None:
    """Move replies that named these messages (which came first) under them.

    A reply that arrived before its parent started a thread of its own, was
    put under a farther ancestor, or was joined to a thread by its subject;
    now that the message it names has come, it moves there with its replies,
    into that message's thread if it is another one.
    """
    children = (
        ArchivedMessage.objects.filter(mailing_list=ml, parent_slug__in=slugs)
        .exclude(reply_to=F("parent_slug"))
        .order_by("date", "id")
        .values_list("id", flat=True)
    )
    for child_id in list(children):
        # Read afresh: an earlier move in this loop may have moved this one too.
        child = ArchivedMessage.objects.only("id", "slug", "thread_id", "path", "depth").get(
            id=child_id
        )
        parent = (
            ArchivedMessage.objects.filter(mailing_list=ml, slug=child.parent_slug)
            .only("id", "slug", "thread_id", "path", "depth")
            .first()
        )
        if parent is None:
            continue
        if parent.thread_id == child.thread_id and parent.path.startswith(child.path):
            continue  # the parent is among the child's own replies: a loop in the headers
        _move(child, under=parent)


def _move(root: ArchivedMessage, under: ArchivedMessage) -> None:
    """Re-parent `root` and everything below it (by path) under `under`."""
    source = Thread.objects.select_for_update().get(id=root.thread_id)
    target = (
        source
        if under.thread_id == source.id
        else Thread.objects.select_for_update().get(id=under.thread_id)
    )
    moved = list(
        ArchivedMessage.objects.filter(thread=source, path__startswith=root.path)
        .order_by("path")
        .only("id", "path", "depth", "date", "reply_to", "thread_id")
    )
    cut = len(root.path) - SEGMENT  # the segments from root's own on are renumbered
    renumber: dict[str, str] = {}
    for msg in moved:
        segments = [msg.path[i : i + SEGMENT] for i in range(cut, len(msg.path), SEGMENT)]
        for segment in segments:
            if segment not in renumber:
                target.next_seq += 1
                renumber[segment] = f"{target.next_seq:0{SEGMENT}d}"
        msg.path = under.path + "".join(renumber[s] for s in segments)
        msg.depth = min(under.depth + 1 + msg.depth - root.depth, MAX_DEPTH)
        msg.thread_id = target.id
        if msg.id == root.id:
            msg.reply_to = under.slug
    ArchivedMessage.objects.bulk_update(moved, ["path", "depth", "thread", "reply_to"])
    if target.id == source.id:
        target.save(update_fields=["next_seq"])
        return
    target.count += len(moved)
    target.last_date = max(target.last_date, *(m.date for m in moved))
    target.started = min(target.started, *(m.date for m in moved))
    target.save(update_fields=["next_seq", "count", "last_date", "started"])
    source.count -= len(moved)
    if source.count <= 0:
        source.delete()
        return
    left = ArchivedMessage.objects.filter(thread=source).aggregate(
        first=Min("date"), last=Max("date")
    )
    source.started, source.last_date = left["first"], left["last"]
    source.save(update_fields=["count", "started", "last_date"])


def _count_month(ml: MailingList, year: int, month: int, delta: int) -> None:
    table = Month._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (mailing_list_id, year, month, count) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT (mailing_list_id, year, month) "
            f"DO UPDATE SET count = {table}.count + %s",
            [ml.id, year, month, max(delta, 0), delta],
        )


@transaction.atomic
def delete_message(message: ArchivedMessage, *, actor: str, reason: str) -> None:
    """An owner takes one message out (a data-protection request); audited with the reason."""
    ml = message.mailing_list
    slug = message.slug
    remove(message)
    # The slug, not the author or subject: the log must not keep what was removed.
    services.audit(actor, "archive.delete", mailing_list=ml, message=slug, reason=reason[:500])


@transaction.atomic
def delete_by_author(email: str, list_ids: list[int] | None, *, actor: str) -> int:
    """Remove everything `email` wrote from the archives of `list_ids` (None: every list)."""
    messages = ArchivedMessage.objects.filter(author_email=email.strip().lower())
    if list_ids is not None:
        messages = messages.filter(mailing_list_id__in=list_ids)
    count = 0
    for message in messages.select_related("mailing_list", "thread").order_by("-path"):
        remove(message)
        count += 1
    if count:
        services.audit(actor, "archive.erase_author", messages=count)
    return count


def count_by_author(email: str, list_ids: list[int] | None) -> int:
    messages = ArchivedMessage.objects.filter(author_email=email.strip().lower())
    if list_ids is not None:
        messages = messages.filter(mailing_list_id__in=list_ids)
    return messages.count()


@transaction.atomic
def remove(message: ArchivedMessage) -> None:
    """Take one message out of the archive for good; its replies stay, attached to its parent."""
    Removed.objects.get_or_create(mailing_list_id=message.mailing_list_id, slug=message.slug)
    ArchivedMessage.objects.filter(thread_id=message.thread_id, reply_to=message.slug).update(
        reply_to=message.reply_to
    )
    thread = message.thread
    message.delete()
    _count_month(message.mailing_list, message.date.year, message.date.month, -1)
    Month.objects.filter(mailing_list=message.mailing_list, count__lte=0).delete()
    remaining = ArchivedMessage.objects.filter(thread=thread)
    if not remaining.exists():
        thread.delete()
        return
    Thread.objects.filter(id=thread.id).update(count=F("count") - 1)
