"""Digests: a list's accepted posts gathered into one message, daily or weekly.

- Every accepted post becomes a DigestEntry (its pending digest content) in
  the transaction that accepts it (`ledger.enqueue_post`).
- `cut` takes all pending entries of a list into a new DigestIssue, builds the
  MIME and the plain (RFC 1153) form once, and records one ledger row per
  digest member, all in one transaction. From there the worker sends it like a
  post: same pacing, per-member footer and List-Unsubscribe, VERP, bounces,
  crash recovery.
- `send_due` cuts the issues that are due: the list's hour has passed (daily,
  or on its weekday) with posts pending since before it, or the pending posts
  are bigger than the list's size limit.

Exactly once (docs/digests.md): a post's regular recipients are recorded when
it is accepted (a big list's rest before any cut, see `_finish_recording`);
an issue's recipients when it is cut; a switch between regular and digest
takes effect right after a cut, in the same transaction.
"""

from __future__ import annotations

import email
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from listkeeper.delivery import ledger
from listkeeper.delivery.models import Delivery, DigestEntry, DigestIssue, JobState
from listkeeper.lib import links
from listkeeper.lists import services
from listkeeper.lists.models import (
    DIGEST_MODES,
    ArchiveVisibility,
    DeliveryMode,
    DigestFrequency,
    MailingList,
    PostingPolicy,
    RouteKind,
    Subscription,
)

log = logging.getLogger(__name__)

CRLF = b"\r\n"
PLACEHOLDER = ledger.PLACEHOLDER.decode()
# RFC 1153: 70 hyphens after the table of contents, 30 between messages.
RFC1153_TOC_RULE = "-" * 70
RFC1153_RULE = "-" * 30
# Header fields of each post shown in the plain digest, in RFC 1153's order.
# Archived-At (RFC 5064) follows them: each post's permalink where the list keeps an archive.
PLAIN_FIELDS = (
    "Date",
    "From",
    "To",
    "Cc",
    "Subject",
    "Message-ID",
    "Keywords",
    "Summary",
    "Archived-At",
)


# When -------------------------------------------------------------------------


def zone(ml: MailingList) -> ZoneInfo:
    try:
        return ZoneInfo(ml.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("list %s has an unknown time zone %r; using UTC", ml.address, ml.time_zone)
        return ZoneInfo("UTC")


def last_scheduled(ml: MailingList, now: datetime) -> datetime:
    """The latest moment at or before `now` when the list's digest is due."""
    tz = zone(ml)
    local = now.astimezone(tz)
    hour = time(min(ml.digest_hour, 23))

    def at(day: date) -> datetime:
        return datetime.combine(day, hour, tzinfo=tz)

    if ml.digest_frequency == DigestFrequency.WEEKLY:
        day = local.date() - timedelta(days=(local.weekday() - ml.digest_weekday) % 7)
        return at(day) if at(day) <= local else at(day - timedelta(days=7))
    day = local.date()
    return at(day) if at(day) <= local else at(day - timedelta(days=1))


def next_scheduled(ml: MailingList, now: datetime) -> datetime:
    """The next regular moment after `now` (in the list's time zone)."""
    step = 7 if ml.digest_frequency == DigestFrequency.WEEKLY else 1
    last = last_scheduled(ml, now)
    day = last.date() + timedelta(days=step)
    return datetime.combine(day, last.timetz())


def pending(ml: MailingList) -> list[DigestEntry]:
    return list(
        DigestEntry.objects.filter(mailing_list=ml, issue__isnull=True)
        .select_related("post")
        .defer("post__raw")
        .order_by("id")
    )


def why_due(ml: MailingList, now: datetime) -> str | None:
    """ "size", "scheduled", or None when nothing is to be sent now."""
    waiting = DigestEntry.objects.filter(mailing_list=ml, issue__isnull=True)
    first = waiting.order_by("id").values_list("added", flat=True).first()
    if first is None:
        return None
    size = waiting.aggregate(n=Sum("size"))["n"] or 0
    if size >= ml.digest_size_kb * 1024:
        return "size"
    if first <= last_scheduled(ml, now):
        return "scheduled"
    return None


# Cutting an issue ---------------------------------------------------------------


def _next_number(ml: MailingList, now: datetime) -> tuple[int, int]:
    """(volume, issue): a new volume each calendar year in the list's time zone."""
    last = DigestIssue.objects.filter(mailing_list=ml).order_by("-volume", "-number").first()
    if last is None:
        return 1, 1
    tz = zone(ml)
    if now.astimezone(tz).year > last.cut.astimezone(tz).year:
        return last.volume + 1, 1
    return last.volume, last.number + 1


def _finish_recording(ml: MailingList) -> None:
    """Record the rest of any big post's regular recipients before the cut.

    A member switching to the digest with this cut must be in those posts'
    ledgers (they are not in their digest), so the ledgers are completed while
    the member still counts as regular.
    """
    expanding = Delivery.objects.filter(post__mailing_list=ml, expand_after__isnull=False)
    for delivery_id in expanding.values_list("id", flat=True):
        while ledger.record_more(delivery_id):
            pass


def cut(ml: MailingList, *, actor: str, now: datetime | None = None) -> DigestIssue | None:
    """Make the pending posts of `ml` one issue and queue it; None when none are pending."""
    now = now or timezone.now()
    with transaction.atomic():
        # One cutter per list at a time (PostgreSQL; SQLite writes one at a time anyway).
        ml = MailingList.objects.select_for_update().get(id=ml.id)
        _finish_recording(ml)
        entries = pending(ml)
        if not entries:
            return None
        volume, number = _next_number(ml, now)
        issue = DigestIssue.objects.create(
            mailing_list=ml,
            volume=volume,
            number=number,
            cut=now,
            posts=len(entries),
            size=sum(e.size for e in entries),
            cut_by=actor,
        )
        taken = DigestEntry.objects.filter(
            id__in=[e.id for e in entries], issue__isnull=True
        ).update(issue=issue)
        if taken != len(entries):  # another cutter got there first (cannot with the lock)
            raise RuntimeError(f"digest entries of {ml.address} were taken by another cut")
        if not ml.digests_enabled:
            # Digests switched off: this is the last issue; then each post again,
            # and a switch to the digest asked for before that is dropped.
            subs = Subscription.objects.filter(mailing_list=ml)
            subs.filter(delivery__in=DIGEST_MODES).update(delivery_next=DeliveryMode.REGULAR)
            subs.exclude(delivery__in=DIGEST_MODES).filter(delivery_next__in=DIGEST_MODES).update(
                delivery_next=""
            )
        total = 0
        for mode in DIGEST_MODES:
            # One build per form and language its readers write in; a form or
            # language nobody reads now is not built, not stored.
            for language in reader_languages(ml, mode):
                build = build_mime if mode == DeliveryMode.DIGEST else build_plain
                with translation.override(language):
                    message = build(ml, issue_title(ml, issue), [_item(e) for e in entries])
                delivery = Delivery.objects.create(
                    digest=issue,
                    digest_mode=mode,
                    message=message,
                    envelope_from=ml.suffixed(RouteKind.BOUNCES),
                    personalised=True,
                )
                count = ledger.enqueue_digest(delivery, ml.id, speaks(language))
                if count == 0:  # cannot happen inside this transaction; kept honest anyway
                    Delivery.objects.filter(id=delivery.id).update(
                        state=JobState.DONE, finished=now
                    )
                total += count
        issue.recipients = total
        issue.save(update_fields=["recipients"])
        switched = services.apply_waiting_deliveries(ml)
        services.audit(
            actor,
            "digest.cut",
            mailing_list=ml,
            volume=volume,
            number=number,
            posts=len(entries),
            recipients=total,
            switched=switched,
        )
    log.info(
        "%s: %d post(s) to %d member(s), %d delivery switch(es)",
        issue,
        issue.posts,
        total,
        switched,
    )
    return issue


def send_due(
    *,
    now: datetime | None = None,
    address: str | None = None,
    everything: bool = False,
    actor: str = services.SYSTEM,
) -> list[DigestIssue]:
    """Cut every issue that is due (all that are pending with `everything`)."""
    now = now or timezone.now()
    with_pending = DigestEntry.objects.filter(issue__isnull=True).values("mailing_list_id")
    lists = MailingList.objects.filter(id__in=with_pending)
    if address is not None:
        local, _, domain = address.strip().lower().partition("@")
        lists = lists.filter(local_part=local, domain=domain)
    issues = []
    for ml in lists.order_by("id"):
        if everything or why_due(ml, now):
            issue = cut(ml, actor=actor, now=now)
            if issue is not None:
                issues.append(issue)
    return issues


# Building the messages ----------------------------------------------------------


@dataclass(frozen=True)
class Item:
    subject: str
    author: str
    message: bytes


@dataclass(frozen=True)
class Built:
    mime: bytes
    plain: bytes

    @classmethod
    def of(cls, ml: MailingList, issue: DigestIssue, entries: list[DigestEntry]) -> Built:
        items = [_item(e) for e in entries]
        title = issue_title(ml, issue)
        return cls(mime=build_mime(ml, title, items), plain=build_plain(ml, title, items))


def reader_languages(ml: MailingList, mode: str) -> list[str]:
    """The languages the members on `mode` read, the site's first; [] when nobody is."""
    chosen = set(
        Subscription.objects.filter(ledger.recipients_of(ml.id, mode))
        .values_list("member__language", flat=True)
        .distinct()
    )
    known = {code for code, _name in settings.LANGUAGES}
    wanted = {code if code in known else settings.LANGUAGE_CODE for code in chosen}
    return sorted(wanted, key=lambda code: (code != settings.LANGUAGE_CODE, code))


def speaks(language: str) -> Q:
    """Members whose notices are in `language` (no or an unknown choice: the site's)."""
    others = {code for code, _name in settings.LANGUAGES} - {language}
    if language == settings.LANGUAGE_CODE:
        return ~Q(member__language__in=others)
    return Q(member__language=language)


def issue_title(ml: MailingList, issue: DigestIssue) -> str:
    return _("%(name)s Digest, Vol %(volume)s, Issue %(number)s") % {
        "name": ml.name,
        "volume": issue.volume,
        "number": issue.number,
    }


def _item(entry: DigestEntry) -> Item:
    data = bytes(entry.message)
    head = email.message_from_bytes(
        data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", policy=policy.default
    )
    subject = entry.post.subject or _("(no subject)")
    return Item(subject=subject, author=_author_name(head, entry.post.author), message=data)


def _author_name(head: Message, fallback: str) -> str:
    # The distributed From reads "Alice via List"; the TOC shows "Alice".
    addresses = getattr(head["From"], "addresses", ())
    name = str(addresses[0].display_name) if addresses else ""
    return name.rsplit(" via ", 1)[0] if " via " in name else (name or fallback)


def _field(name: str, value: str) -> bytes:
    return policy.SMTP.fold_binary(name, value)


def _headers(ml: MailingList, title: str, content_type: str, eight_bit: bool) -> bytes:
    request = ml.suffixed(RouteKind.REQUEST)
    page = links.list_page_url(ml.local_part, ml.domain)
    fields = [
        ("From", Address(ml.name, addr_spec=request)),
        ("To", ml.address),
        ("Subject", title),
        ("Date", format_datetime(timezone.now())),
        ("Message-ID", make_msgid("digest", domain=ml.domain)),
    ]
    if ml.posting_policy != PostingPolicy.ANNOUNCE:
        fields.append(("Reply-To", ml.address))
    out = b"".join(_field(name, str(value)) for name, value in fields)
    out += b"MIME-Version: 1.0\r\n"
    out += f"Content-Type: {content_type}\r\n".encode()
    if eight_bit:
        out += b"Content-Transfer-Encoding: 8bit\r\n"
    listed = [
        ("List-Id", f"{ml.name} <{ml.list_id}>"),
        (
            "List-Post",
            "NO" if ml.posting_policy == PostingPolicy.ANNOUNCE else f"<mailto:{ml.address}>",
        ),
        ("List-Help", f"<mailto:{request}?subject=help>"),
        ("List-Owner", f"<mailto:{ml.suffixed(RouteKind.OWNER)}>"),
        ("List-Subscribe", f"<{page}>, <mailto:{request}?subject=subscribe>"),
        ("Precedence", "list"),
        ("X-Loop", ml.address),
    ]
    if ml.archive_visibility != ArchiveVisibility.OFF:
        # Each post inside carries its own Archived-At (the pipeline's archive_headers).
        listed.append(("List-Archive", f"<{links.archive_url(ml.list_id)}>"))
    return out + b"".join(_field(name, value) for name, value in listed)


def _toc(ml: MailingList, title: str, items: list[Item]) -> str:
    lines = [title, ""]
    if ml.digest_header.strip():
        lines += [ml.digest_header.strip(), ""]
    lines += [_("Today's Topics:"), ""]
    width = len(str(len(items)))
    for n, item in enumerate(items, 1):
        lines.append(f"  {n:>{width}}. {item.subject} ({item.author})")
    return "\r\n".join(lines) + "\r\n"


def footer_text(ml: MailingList) -> str:
    """The digest's closing text: the owners' footer, then the member's own links."""
    lines = []
    if ml.digest_footer.strip():
        lines += [ml.digest_footer.strip(), ""]
    lines += [
        "_" * 47,
        _("%(name)s mailing list <%(address)s>") % {"name": ml.name, "address": ml.address},
        _("Unsubscribe: %(url)s") % {"url": PLACEHOLDER},
        # Manage links expire after a week, so a digest kept in a mailbox
        # points at the page that mails a fresh one.
        _("Each post, a digest or no mail: %(url)s") % {"url": f"{settings.SITE_URL}/manage/"},
    ]
    return "\r\n".join(lines) + "\r\n"


def _text_part(text: str, description: str) -> tuple[bytes, bool]:
    eight_bit = not text.isascii()
    charset, cte = ("utf-8", "8bit") if eight_bit else ("us-ascii", "7bit")
    head = (
        f'Content-Type: text/plain; charset="{charset}"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n"
        f"Content-Description: {description}\r\n\r\n"
    ).encode()
    return head + text.replace("\r\n", "\n").replace("\n", "\r\n").encode(), eight_bit


def _boundary(taken: list[bytes]) -> str:
    while True:
        boundary = "===============digest" + secrets.token_hex(10) + "=="
        if not any(boundary.encode() in data for data in taken):
            return boundary


def _crlf(data: bytes) -> bytes:
    data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    return data if data.endswith(CRLF) else data + CRLF


def build_mime(ml: MailingList, title: str, items: list[Item]) -> bytes:
    """multipart/mixed: the table of contents, a multipart/digest of the posts, the footer."""
    posts = [_crlf(bytes(i.message)) for i in items]
    toc, toc_8bit = _text_part(_toc(ml, title, items), _("Table of contents"))
    foot, foot_8bit = _text_part(footer_text(ml), _("Digest footer"))
    outer, inner = _boundary(posts), _boundary(posts)
    body = [f"--{outer}\r\n".encode(), toc, CRLF, f"--{outer}\r\n".encode()]
    body.append(f'Content-Type: multipart/digest; boundary="{inner}"\r\n\r\n'.encode())
    for post in posts:
        # The CRLF before a delimiter belongs to it: one more keeps the post whole.
        body += [f"--{inner}\r\n".encode(), b"Content-Type: message/rfc822\r\n\r\n", post, CRLF]
    body += [f"--{inner}--\r\n".encode(), CRLF, f"--{outer}\r\n".encode(), foot, CRLF]
    body.append(f"--{outer}--\r\n".encode())
    data = b"".join(body)
    eight_bit = toc_8bit or foot_8bit or any(b > 127 for b in data)
    head = _headers(ml, title, f'multipart/mixed; boundary="{outer}"', eight_bit)
    return head + CRLF + data


def build_plain(ml: MailingList, title: str, items: list[Item]) -> bytes:
    """One text/plain message in the RFC 1153 layout."""
    out = [_toc(ml, title, items), RFC1153_TOC_RULE, ""]
    for item in items:
        out += _plain_message(item.message)
        out += ["", RFC1153_RULE, ""]
    out += [footer_text(ml).rstrip("\r\n"), "", RFC1153_RULE, ""]
    end = _("End of %(title)s") % {"title": title}
    out += [end, "*" * len(end)]
    text = "\r\n".join(out) + "\r\n"
    eight_bit = not text.isascii()
    charset = "utf-8" if eight_bit else "us-ascii"
    head = _headers(ml, title, f'text/plain; charset="{charset}"', eight_bit)
    return head + CRLF + text.encode()


def _plain_message(data: bytes) -> list[str]:
    msg = email.message_from_bytes(bytes(data), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    lines = []
    for name in PLAIN_FIELDS:
        value = msg.get(name)
        if value is not None:
            lines.append(f"{name}: {' '.join(str(value).split())}")
    lines.append("")
    lines += _plain_body(msg).splitlines()
    # A line of exactly 30 hyphens inside a message would end it for a digest reader.
    return [" " + line if line == RFC1153_RULE else line for line in lines]


def _plain_body(msg: EmailMessage) -> str:
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and not part.is_attachment():
            try:
                parts.append(str(part.get_content()).rstrip())
            except (LookupError, UnicodeError, AssertionError):
                parts.append(_("[a text part in an unknown character set was left out]"))
        else:
            name = part.get_filename() or _("no name")
            size = len(part.get_payload(decode=True) or b"")
            parts.append(
                _("[%(kind)s (%(name)s, %(size)s bytes) is not included in the plain digest]")
                % {"kind": kind, "name": name, "size": size}
            )
    return "\n\n".join(parts)
