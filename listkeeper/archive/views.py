"""Archive pages: thin views over models, search and render; templates in archive/.

Every view starts from access.readable_list, so visibility holds everywhere
(pages, search, feed, attachments, mbox).
"""

from __future__ import annotations

import io
from calendar import monthrange
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Max, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from listkeeper.archive import access, mbox, parse, search, store
from listkeeper.archive import render as show
from listkeeper.archive.models import ArchivedMessage, Month, Thread
from listkeeper.archive.render import esc
from listkeeper.archive.templatetags.archive import when
from listkeeper.lists import permissions
from listkeeper.lists.models import ArchiveVisibility, MailingList
from listkeeper.web import access as web_access

LATEST_THREADS = 20
PAGE_SIZE = 100
# A huge thread or month is shown a page at a time: a 2,000-message thread in
# one page is megabytes of HTML and seconds of rendering.
THREAD_PAGE = 100  # messages of a thread, in reply order
MONTH_THREADS = 100  # threads of a month
MONTH_MESSAGES = 200  # messages of a month by date
FEED_SIZE = 30
# Declared attachment types served as they are; anything else (HTML, SVG,
# scripts, unknown) is application/octet-stream, always as a download.
HARMLESS_TYPES = {
    "application/pdf",
    "application/zip",
    "application/gzip",
    "text/plain",
    "text/csv",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "audio/mpeg",
    "video/mp4",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/msword",
    "application/vnd.ms-excel",
}

View = Callable[..., HttpResponse]


def archive_view(view: View) -> View:
    """GET only; a members-only archive asks an unknown visitor to sign in."""

    @require_GET
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except access.SignInRequired as needed:
            response = render(
                request, "archive/sign_in.html", {"list": needed.mailing_list}, status=403
            )
            response.headers["Cache-Control"] = "private, no-store"
            return response

    return wrapped


def _context(request: HttpRequest, ml: MailingList, **extra: Any) -> dict[str, Any]:
    staff = access.is_staff(request, ml)
    member = access.is_member(request, ml)
    public = ml.archive_visibility == ArchiveVisibility.PUBLIC
    return {
        "list": ml,
        "public": public,
        "hide": public and not (staff or member),
        "staff": staff,
        "owner": staff and permissions.can_manage(request.user, ml),
        # mbox files carry addresses in the clear: members and staff only.
        "can_download": staff or member,
        **extra,
    }


@archive_view
def lists(request: HttpRequest) -> HttpResponse:
    return render(request, "archive/lists.html", {"lists": access.readable_lists(request)})


@archive_view
def index(request: HttpRequest, list_id: str) -> HttpResponse:
    ml = access.readable_list(request, list_id)
    query = request.GET.get("q", "").strip()
    ctx = _context(request, ml, query=query)
    if query:
        page = _page_number(request)
        results = search.search(ml, query, limit=PAGE_SIZE // 5, offset=(page - 1) * PAGE_SIZE // 5)
        hits = [
            {
                "message": hit.message,
                "subject": show.marked(hit.subject or hit.message.subject, ctx["hide"]),
                "snippet": show.marked(hit.snippet, ctx["hide"]),
                "author": show.author(
                    hit.message.author_name, hit.message.author_email, ctx["hide"]
                ),
            }
            for hit in results.hits
        ]
        more = results.total > page * PAGE_SIZE // 5
        return render(
            request,
            "archive/search.html",
            {**ctx, "results": results, "hits": hits, "page": page, "more": more},
        )
    months = list(Month.objects.filter(mailing_list=ml, count__gt=0).order_by("-year", "-month"))
    threads = Thread.objects.filter(mailing_list=ml).order_by("-last_date")[:LATEST_THREADS]
    return render(request, "archive/index.html", {**ctx, "months": months, "threads": threads})


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 10_000))
    except ValueError:
        return 1


def month_range(year: int, month: int) -> tuple[datetime, datetime]:
    if not (1970 <= year <= 9998 and 1 <= month <= 12):
        raise Http404("No such month")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


@archive_view
def month(request: HttpRequest, list_id: str, year: int, month: int) -> HttpResponse:
    ml = access.readable_list(request, list_id)
    start, end = month_range(year, month)
    in_month = ArchivedMessage.objects.filter(mailing_list=ml, date__gte=start, date__lt=end)
    by_date = request.GET.get("by") == "date"
    ctx = _context(
        request,
        ml,
        year=year,
        month=month,
        start=start,
        by_date=by_date,
        days=monthrange(year, month)[1],
    )
    if by_date:
        messages = in_month.order_by("date", "id").only(
            "slug", "subject", "author_name", "author_email", "date", "depth", "thread_id"
        )
        page = Paginator(messages, MONTH_MESSAGES).get_page(request.GET.get("page"))
        base = reverse("archive:index", args=[ml.list_id])
        rows = [
            {
                "message": m,
                "url": f"{base}m/{m.slug}/",
                "author": show.author(m.author_name, m.author_email, ctx["hide"]),
            }
            for m in page
        ]
        return render(request, "archive/month.html", {**ctx, "rows": rows, "page": page})
    # Grouped by the database from the (list, date, thread) index alone; the
    # threads of a month are few enough to cut into pages here.
    ordered = list(
        in_month.values("thread_id")
        .annotate(n=Count("*"), first=Min("date"), last=Max("date"))
        .order_by("-last", "-thread_id")
    )
    thread_page = Paginator(ordered, MONTH_THREADS).get_page(request.GET.get("page"))
    threads = Thread.objects.in_bulk([c["thread_id"] for c in thread_page])
    rows = [
        {"thread": threads[c["thread_id"]], **c} for c in thread_page if c["thread_id"] in threads
    ]
    return render(request, "archive/month.html", {**ctx, "rows": rows, "page": thread_page})


@archive_view
def thread(request: HttpRequest, list_id: str, slug: str) -> HttpResponse:
    ml = access.readable_list(request, list_id)
    found = Thread.objects.filter(mailing_list=ml, slug=slug).first()
    if found is None:
        # A thread that was merged into another (its first message was a reply
        # whose parent came later) lives on under the message's new thread.
        message = ArchivedMessage.objects.filter(mailing_list=ml, slug=slug).first()
        if message is None:
            raise Http404("No such thread")
        return redirect(thread_url(ml, message))
    pages = max(1, -(-found.count // THREAD_PAGE))
    number = min(_page_number(request), pages)
    start = (number - 1) * THREAD_PAGE
    ctx = _context(
        request,
        ml,
        thread=found,
        number=number,
        pages=pages,
        first_shown=start + 1,
        last_shown=min(start + THREAD_PAGE, found.count),
    )
    rows = list(
        ArchivedMessage.objects.filter(thread=found)
        .order_by("path")
        .defer("raw", "references", "in_reply_to", "message_id")[start : start + THREAD_PAGE]
    )
    base = reverse("archive:index", args=[ml.list_id])
    on_page = {m.slug for m in rows}
    # Every part of each item is escaped in _post.
    items = mark_safe(  # noqa: S308
        "\n".join(_post(m, base, found.subject, ctx["hide"], on_page) for m in rows)
    )
    return render(request, "archive/thread.html", {**ctx, "items": items})


def thread_position(message: ArchivedMessage) -> int:
    """Where a message stands in its thread's reply order, from 1."""
    before = ArchivedMessage.objects.filter(thread_id=message.thread_id, path__lt=message.path)
    return before.count() + 1


def thread_url(ml: MailingList, message: ArchivedMessage, position: int | None = None) -> str:
    """The page of its thread a message is on, scrolled to it."""
    number = ((position or thread_position(message)) - 1) // THREAD_PAGE + 1
    url = reverse("archive:thread", args=[ml.list_id, message.thread.slug])
    return f"{url}{f'?page={number}' if number > 1 else ''}#m-{message.slug}"


def _shown(message: ArchivedMessage, hide: bool) -> dict[str, Any]:
    return {
        "message": message,
        "author": show.author(message.author_name, message.author_email, hide),
        "address": show.shown_address(message.author_email, hide),
        "body": show.body(message.body_text, message.body_html, hide),
        "indent": min(message.depth, 10),
    }


def _post(
    message: ArchivedMessage, base: str, thread_subject: str, hide: bool, on_page: set[str]
) -> str:
    """One message of a thread page, as HTML built here with plain escaping: a
    200-message thread through the template engine costs several times more."""
    url = f"{base}m/{message.slug}/"
    subject = (
        f'<div class="subject">{esc(message.subject)}</div>'
        if message.subject != thread_subject
        else ""
    )
    if message.reply_to and message.reply_to not in on_page:
        # Its parent is on an earlier page: indentation alone would not say so.
        subject += (
            f'<div class="in-reply-to"><a href="{esc(base)}m/{esc(message.reply_to)}/">'
            f"{esc(_('In reply to an earlier message'))}</a></div>"
        )
    author = esc(show.author(message.author_name, message.author_email, hide))
    return (
        f'<li class="post depth-{min(message.depth, 10)}" id="m-{esc(message.slug)}">'
        f'<div class="meta"><strong>{author}</strong> · {when(message.date)} · '
        f'<a href="{esc(url)}">permalink</a></div>{subject}'
        f"{show.body(message.body_text, message.body_html, hide)}"
        f"{_attachments(message, url)}</li>"
    )


def _attachments(message: ArchivedMessage, url: str) -> str:
    if not message.attachments:
        return ""
    items = "".join(
        f'<li><a href="{esc(url)}attachments/{int(a["part"])}/{esc(quote(str(a["filename"])))}"'
        f" download>{esc(str(a['filename']))}</a>"
        f" <small>{esc(str(a['type']))}, {filesizeformat(a['size'])}</small></li>"
        for a in message.attachments
    )
    return f'<ul class="attachments" aria-label="{esc(_("Attachments"))}">{items}</ul>'


def _message(ml: MailingList, slug: str) -> ArchivedMessage:
    message = (
        ArchivedMessage.objects.filter(mailing_list=ml, slug=slug)
        .select_related("thread")
        .defer("raw")
        .first()
    )
    if message is None:
        raise Http404("No such message")
    return message


@archive_view
def message(request: HttpRequest, list_id: str, slug: str) -> HttpResponse:
    ml = access.readable_list(request, list_id)
    found = _message(ml, slug)
    ctx = _context(request, ml)
    # Neighbours and position from the (thread, path) index: a thread may
    # hold thousands of messages, so never load all of it.
    in_thread = ArchivedMessage.objects.filter(thread_id=found.thread_id)
    previous = (
        in_thread.filter(path__lt=found.path).order_by("-path").values_list("slug", flat=True)
    ).first()
    following = (
        in_thread.filter(path__gt=found.path).order_by("path").values_list("slug", flat=True)
    ).first()
    position = thread_position(found)
    replies = (
        ArchivedMessage.objects.filter(thread_id=found.thread_id, reply_to=found.slug)
        .order_by("path")
        .only("slug", "subject", "author_name", "author_email", "date")
    )
    parent = (
        ArchivedMessage.objects.filter(mailing_list=ml, slug=found.reply_to)
        .only("slug", "subject", "author_name", "author_email")
        .first()
        if found.reply_to
        else None
    )
    item = _shown(found, ctx["hide"])
    return render(
        request,
        "archive/message.html",
        {
            **ctx,
            **item,
            "item": item,
            "parent": parent,
            "parent_author": show.author(parent.author_name, parent.author_email, ctx["hide"])
            if parent
            else "",
            "replies": [
                {"message": r, "author": show.author(r.author_name, r.author_email, ctx["hide"])}
                for r in replies
            ],
            "previous": previous,
            "next": following,
            "position": position,
            "thread_size": found.thread.count,
            "thread_url": thread_url(ml, found, position),
        },
    )


@archive_view
def attachment(
    request: HttpRequest, list_id: str, slug: str, part: int, filename: str
) -> HttpResponse:
    ml = access.readable_list(request, list_id)
    found = ArchivedMessage.objects.filter(mailing_list=ml, slug=slug).first()
    meta = next((a for a in (found.attachments if found else []) if a.get("part") == part), None)
    if found is None or meta is None:
        raise Http404("No such attachment")
    data = parse.attachment_data(bytes(found.raw), part)
    if data is None:
        raise Http404("No such attachment")
    declared = str(meta.get("type", "")).lower()
    response = HttpResponse(
        data, content_type=declared if declared in HARMLESS_TYPES else "application/octet-stream"
    )
    name = str(meta.get("filename") or f"attachment-{part}")
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Nothing in an attachment may run, even if a browser renders it anyway.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if not access.is_public_archive(ml):
        response.headers["Cache-Control"] = "private, no-store"
    return response


@archive_view
def feed(request: HttpRequest, list_id: str) -> HttpResponse:
    ml = access.find_list(list_id)
    # Only public archives have a feed: feed readers cannot sign in.
    if ml is None or not access.is_public_archive(ml):
        raise Http404("No feed")
    link = request.build_absolute_uri(reverse("archive:index", args=[ml.list_id]))
    atom = Atom1Feed(
        title=f"{ml.name} archive",
        link=link,
        description=ml.description,
        feed_url=request.build_absolute_uri(),
        language="en",
    )
    latest = (
        ArchivedMessage.objects.filter(mailing_list=ml)
        .order_by("-date", "-id")
        .only("slug", "subject", "author_name", "author_email", "date", "body_text")[:FEED_SIZE]
    )
    for m in latest:
        url = request.build_absolute_uri(reverse("archive:message", args=[ml.list_id, m.slug]))
        atom.add_item(
            title=m.subject or _("(no subject)"),
            link=url,
            unique_id=url,
            description=show.obscure(m.body_text[:2000]),
            author_name=show.author(m.author_name, m.author_email, True),
            pubdate=m.date,
            updateddate=m.date,
        )
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    atom.write(response, "utf-8")
    return response


@archive_view
def month_mbox(request: HttpRequest, list_id: str, year: int, month: int) -> HttpResponse:
    """A month as mboxrd. It carries addresses in the clear, so members and staff only."""
    ml = access.readable_list(request, list_id)
    if not (access.is_staff(request, ml) or access.is_member(request, ml)):
        raise access.SignInRequired(ml)
    start, end = month_range(year, month)
    buffer = io.BytesIO()
    mbox.export(ml, buffer, start, end)
    response = HttpResponse(buffer.getvalue(), content_type="application/mbox")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{ml.local_part}-{year:04d}-{month:02d}.mbox"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, list_id: str, slug: str) -> HttpResponse:
    """An owner removes one message (data-protection requests), with a reason for the log."""
    found_list = access.find_list(list_id)
    if found_list is None:
        raise Http404("No such message")
    ml = web_access.managed_list(request, found_list.id)  # owners and site admins, else 404
    found = _message(ml, slug)
    reason = request.POST.get("reason", "").strip()
    if request.method == "POST" and reason:
        thread_slug = found.thread.slug
        store.delete_message(found, actor=web_access.actor(request), reason=reason)
        messages.success(request, _("The message was removed from the archive for good."))
        if Thread.objects.filter(mailing_list=ml, slug=thread_slug).exists():
            return redirect("archive:thread", list_id=ml.list_id, slug=thread_slug)
        return redirect("archive:index", list_id=ml.list_id)
    status = 400 if request.method == "POST" else 200
    ctx = _context(request, ml, message=found, missing_reason=request.method == "POST")
    return render(request, "archive/delete.html", ctx, status=status)
