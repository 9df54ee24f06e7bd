"""Putting a message into the archive, threaded; taking one out.

`archive_post` runs inside the transaction that queues an accepted (or
approved) post for delivery, so a post is archived exactly when it is sent.
Threading is JWZ-like and decided here, once: the nearest In-Reply-To /
References ancestor already archived is the parent; failing that, a "Re:"
subject joins the latest thread with the same subject (60 days); a message
that arrives before its parent is adopted when the parent comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from listkeeper.archive import ids, parse
from listkeeper.archive.models import ArchivedMessage, Month, Removed, Thread
from listkeeper.lists import services
from listkeeper.lists.models import ArchiveVisibility, MailingList, Post

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
    keeps no archive or this Message-ID is already archived.
    """
    ml = post.mailing_list
    if not archives(ml):
        return None
    raw = original(bytes(post.raw))
    parsed = parse.read(raw, ml)
    if not parsed.message_id and post.message_id:
        raw = f"Message-ID: {post.message_id}\r\n".encode("ascii", "replace") + raw
        parsed.message_id = ids.normalise_message_id(post.message_id)
    date = parse.live_date(parsed, post.received or timezone.now())
    return store(ml, raw, parsed, date, post=post)


def archive_raw(
    ml: MailingList, raw: bytes, fallback_date: datetime | None = None
) -> ArchivedMessage | None:
    """Archive a message from elsewhere (an import): dated by Date, else Received, else
    `fallback_date` (an mbox "From " line), else now."""
    parsed = parse.read(raw, ml)
    date = parsed.date or fallback_date or timezone.now()
    return store(ml, raw, parsed, date)


def original(raw: bytes) -> bytes:
    """The message without an mbox "From " line it may start with."""
    if raw.startswith(b"From "):
        end = raw.find(b"\n")
        return raw[end + 1 :] if end >= 0 else b""
    return raw


@dataclass
class _Place:
    thread: Thread
    parent: ArchivedMessage | None


@transaction.atomic
def store(
    ml: MailingList,
    raw: bytes,
    parsed: parse.Parsed,
    date: datetime,
    post: Post | None = None,
) -> ArchivedMessage | None:
    """Archive one parsed message; None when its Message-ID is already in this list's archive."""
    if not parsed.message_id:
        return None
    slug = ids.slug(parsed.message_id)
    if ArchivedMessage.objects.filter(mailing_list=ml, slug=slug).exists():
        return None
    if Removed.objects.filter(mailing_list=ml, slug=slug).exists():
        return None
    parents = parsed.parent_ids
    place = _place(ml, parsed, slug, parents, date)
    thread = Thread.objects.select_for_update().get(id=place.thread.id)
    thread.next_seq += 1
    segment = f"{thread.next_seq:0{SEGMENT}d}"
    parent = place.parent
    if parent is None:
        path, depth = segment, 0
    elif parent.depth >= MAX_DEPTH:
        path, depth = parent.path[:-SEGMENT] + segment, parent.depth
    else:
        path, depth = parent.path + segment, parent.depth + 1
    message = ArchivedMessage.objects.create(
        mailing_list=ml,
        post=post,
        thread=thread,
        parent=parent,
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
        raw=raw,
        size=len(raw),
        attachments=[a.as_json() for a in parsed.attachments],
        path=path,
        depth=depth,
    )
    thread.count += 1
    thread.last_date = max(thread.last_date, date)
    thread.started = min(thread.started, date)
    thread.save(update_fields=["next_seq", "count", "last_date", "started"])
    _count_month(ml, date, +1)
    _adopt(message)
    return message


def _place(
    ml: MailingList, parsed: parse.Parsed, slug: str, parents: list[str], date: datetime
) -> _Place:
    if parents:
        slugs = [ids.slug(mid) for mid in parents]
        found = {
            m.slug: m
            for m in ArchivedMessage.objects.filter(mailing_list=ml, slug__in=slugs).select_related(
                "thread"
            )
        }
        for candidate in slugs:
            if candidate in found:
                return _Place(found[candidate].thread, found[candidate])
    key = ids.subject_key(parsed.subject)
    _, replied = ids.strip_prefixes(parsed.subject)
    if key and (replied or parents):
        thread = (
            Thread.objects.filter(
                mailing_list=ml,
                subject_key=key,
                last_date__gte=date - SUBJECT_WINDOW,
                started__lte=date,
            )
            .order_by("-last_date")
            .first()
        )
        if thread is not None:
            root = ArchivedMessage.objects.filter(thread=thread).order_by("path").first()
            if root is not None:
                return _Place(thread, root)
    # A new thread (or, after a deletion, the thread this message started, back again).
    thread, _ = Thread.objects.get_or_create(
        mailing_list=ml,
        slug=slug,
        defaults={
            "subject": parsed.subject,
            "subject_key": key,
            "started": date,
            "last_date": date,
        },
    )
    return _Place(thread, None)


def _adopt(message: ArchivedMessage) -> None:
    """Move threads started by replies to `message` (which came first) under it."""
    orphans = ArchivedMessage.objects.filter(
        mailing_list_id=message.mailing_list_id,
        parent_slug=message.slug,
        parent__isnull=True,
    ).exclude(thread_id=message.thread_id)
    for orphan in orphans:
        _merge(orphan, under=message)


def _merge(root: ArchivedMessage, under: ArchivedMessage) -> None:
    old = root.thread
    thread = Thread.objects.select_for_update().get(id=under.thread_id)
    moved = list(ArchivedMessage.objects.filter(thread=old).order_by("path"))
    renumber: dict[str, str] = {}
    for msg in moved:
        thread.next_seq += 1
        segments = [msg.path[i : i + SEGMENT] for i in range(0, len(msg.path), SEGMENT)]
        renumber[segments[-1]] = f"{thread.next_seq:0{SEGMENT}d}"
        msg.path = under.path + "".join(renumber.get(s, s) for s in segments)
        msg.depth = under.depth + 1 + msg.depth
        msg.thread = thread
        if msg.id == root.id:
            msg.parent = under
    ArchivedMessage.objects.bulk_update(moved, ["path", "depth", "thread", "parent"])
    thread.count += len(moved)
    thread.last_date = max(thread.last_date, old.last_date)
    thread.save(update_fields=["next_seq", "count", "last_date"])
    old.delete()


def _count_month(ml: MailingList, date: datetime, delta: int) -> None:
    table = Month._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (mailing_list_id, year, month, count) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT (mailing_list_id, year, month) "
            f"DO UPDATE SET count = {table}.count + %s",
            [ml.id, date.year, date.month, max(delta, 0), delta],
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
    ArchivedMessage.objects.filter(parent=message).update(parent=message.parent)
    thread = message.thread
    message.delete()
    _count_month(message.mailing_list, message.date, -1)
    Month.objects.filter(mailing_list=message.mailing_list, count__lte=0).delete()
    remaining = ArchivedMessage.objects.filter(thread=thread)
    if not remaining.exists():
        thread.delete()
        return
    Thread.objects.filter(id=thread.id).update(count=F("count") - 1)
