"""The web archive, read only: threads and messages, with the pages' visibility rules."""

from __future__ import annotations

from datetime import datetime

from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema

from listkeeper.archive import access
from listkeeper.archive.models import ArchivedMessage, Thread
from listkeeper.lib import links
from listkeeper.lists.models import MailingList

router = Router(tags=["archive"])


class AttachmentOut(Schema):
    part: int
    filename: str
    type: str
    size: int


class ThreadOut(Schema):
    slug: str
    subject: str
    started: datetime
    last_date: datetime
    count: int


class MessageOut(Schema):
    slug: str = Field(..., description="The permalink's last part; stable, from the Message-ID")
    url: str = Field(..., description="The permalink (what Archived-At carries)")
    message_id: str
    thread: str = Field(..., description="The thread's slug")
    parent: str | None = Field(None, description="The slug of the message this one replies to")
    depth: int
    subject: str
    author_name: str
    author_email: str
    date: datetime
    body_text: str
    attachments: list[AttachmentOut]


class ThreadDetail(ThreadOut):
    messages: list[MessageOut] = Field(..., description="In reply order (depth-first)")


def _list(request: HttpRequest, list_id: int) -> MailingList:
    ml = MailingList.objects.filter(id=list_id).first()
    if ml is None or not access.may_read(request, ml):
        raise Http404(f"no archive for list {list_id}")
    return ml


def _out(ml: MailingList, m: ArchivedMessage, thread_slug: str, parent: str | None) -> dict:
    return {
        "slug": m.slug,
        "url": links.archive_message_url(ml.list_id, m.slug),
        "message_id": m.message_id,
        "thread": thread_slug,
        "parent": parent,
        "depth": m.depth,
        "subject": m.subject,
        "author_name": m.author_name,
        "author_email": m.author_email,
        "date": m.date,
        "body_text": m.body_text,
        "attachments": m.attachments,
    }


@router.get(
    "/lists/{list_id}/archive/threads",
    response=list[ThreadOut],
    summary="A list's archived threads, latest activity first",
)
def threads(request: HttpRequest, list_id: int, limit: int = 50, offset: int = 0) -> list[Thread]:
    ml = _list(request, list_id)
    limit = max(1, min(limit, 500))
    offset = max(0, offset)
    return list(
        Thread.objects.filter(mailing_list=ml).order_by("-last_date")[offset : offset + limit]
    )


@router.get(
    "/lists/{list_id}/archive/threads/{slug}",
    response=ThreadDetail,
    summary="One thread with its messages in reply order",
)
def thread(request: HttpRequest, list_id: int, slug: str) -> dict:
    ml = _list(request, list_id)
    found = Thread.objects.filter(mailing_list=ml, slug=slug).first()
    if found is None:
        raise Http404(f"no thread {slug}")
    messages = list(
        ArchivedMessage.objects.filter(thread=found).order_by("path").defer("raw", "body_html")
    )
    return {
        "slug": found.slug,
        "subject": found.subject,
        "started": found.started,
        "last_date": found.last_date,
        "count": found.count,
        "messages": [_out(ml, m, found.slug, m.reply_to or None) for m in messages],
    }


@router.get(
    "/lists/{list_id}/archive/messages/{slug}",
    response=MessageOut,
    summary="One archived message by its permalink slug",
)
def message(request: HttpRequest, list_id: int, slug: str) -> dict:
    ml = _list(request, list_id)
    found = (
        ArchivedMessage.objects.filter(mailing_list=ml, slug=slug)
        .select_related("thread")
        .defer("raw", "body_html")
        .first()
    )
    if found is None:
        raise Http404(f"no message {slug}")
    return _out(ml, found, found.thread.slug, found.reply_to or None)
