"""The mail path's entry points, called by the LMTP server (and tests) without sockets.

- handle_post: a message to NAME@ → rules decide → Post stored with status and
  reason; accepted posts transformed and queued for delivery in the same
  transaction; held → moderators told; rejected → the poster told.
- handle_request: NAME-request@ commands (see commands.py).
- forward_to_owners: NAME-owner@ mail re-sent to the owners.
- approve / reject / discard / expire_held: moderation (see moderation.py).

Database errors propagate, so the LMTP server answers 451 and Postfix retries;
anything wrong with the message itself ends in a stored post, never an exception.
handle_request and forward_to_owners return a one-line result for the caller
to keep (InboundMessage.result).
"""

from __future__ import annotations

import logging
from email.utils import make_msgid

from django.db import DatabaseError, transaction
from django.utils import timezone

from listkeeper.archive.store import archive_post
from listkeeper.delivery.ledger import enqueue_message, enqueue_post
from listkeeper.delivery.notices import is_reply_to_notice
from listkeeper.lib.addresses import address_key
from listkeeper.lib.log import mail_event
from listkeeper.lists.bans import is_banned
from listkeeper.lists.models import MailingList, Role, RouteKind
from listkeeper.mail import authentication, pipeline, rules
from listkeeper.mail import headers as h
from listkeeper.mail.commands import handle_request, record_inbound
from listkeeper.mail.context import InFlight, parse_message, read_author, wire_form
from listkeeper.mail.errors import Stop
from listkeeper.mail.handlers import clean_headers
from listkeeper.mail.models import InboundKind, Post, PostStatus
from listkeeper.mail.moderation import (
    approve,
    discard,
    expire_held,
    housekeeping,
    notify_held,
    reject,
)
from listkeeper.mail.replies import reply, staff_of, why_automatic

__all__ = [
    "approve",
    "discard",
    "expire_held",
    "forward_to_owners",
    "handle_post",
    "handle_request",
    "housekeeping",
    "reject",
]

log = logging.getLogger("listkeeper.mail")


def authenticate(raw: bytes, envelope_sender: str) -> authentication.Verdict:
    """DKIM, SPF and DMARC for a post as it arrived (DNS lookups: call outside transactions)."""
    return authentication.authenticate(raw, (envelope_sender or "").strip().strip("<>"))


def with_results(raw: bytes, verdict: authentication.Verdict) -> bytes:
    """The post as we store it: our Authentication-Results on top (RFC 8601).

    Fields that claim to be ours already came from the sender and are dropped
    (RFC 8601 section 5); every other byte stays as it arrived.
    """
    ours = authentication.authserv_id().lower()
    block, body = h.split(wire_form(raw))
    if not block.fields:
        return raw

    def forged(field: bytes) -> bool:
        if h.field_name(field).lower() != "authentication-results":
            return False
        return h.field_value(field).split(";", 1)[0].strip().lower() == ours

    kept = [f for f in block.fields if not forged(f)]
    if len(kept) == len(block.fields):
        # Only the new field: the message's own bytes stay exactly as they came.
        original = wire_form(raw) if raw.startswith(b"From ") else raw
        return verdict.header(authentication.authserv_id()) + original
    return verdict.header(authentication.authserv_id()) + b"".join(kept) + h.CRLF + body


def handle_post(
    ml: MailingList,
    raw: bytes,
    envelope_sender: str,
    verdict: authentication.Verdict | None = None,
) -> Post:
    """Judge and store one post. `verdict`: from authenticate(), else checked here."""
    sender = (envelope_sender or "").strip().strip("<>")
    if verdict is None:
        verdict = authenticate(raw, sender)
    raw = with_results(raw, verdict)
    ctx, decision, message = _judge(ml, raw, sender, verdict)
    block = ctx.headers_in if ctx is not None else h.split(wire_form(raw))[0]
    message_id = (ctx.headers.get("Message-ID") if ctx and message else None) or block.get(
        "Message-ID"
    )
    stored = raw
    size = ctx.size if ctx is not None else len(raw)
    if (
        decision.status in (PostStatus.REJECTED, PostStatus.DISCARDED)
        and size > ml.max_message_size
    ):
        stored = block.as_bytes()  # keep the headers of an oversized post, not its megabytes
    decided = decision.status != PostStatus.HELD
    with transaction.atomic():
        post = Post.objects.create(
            mailing_list=ml,
            message_id=_text(message_id, 998),
            sender=_text(sender, 254),
            author=_text(ctx.author.email if ctx is not None and ctx.author else "", 254),
            subject=_text(block.get_text("Subject"), 998),
            raw=stored,
            size=size,
            status=decision.status,
            reason=_text(decision.reason, 500),
            decided=timezone.now() if decided else None,
            decided_by="rules" if decided else "",
            authentication=_text(verdict.header_value("").lstrip("; "), 1000),
        )
        digest_form = ctx.digest_form if ctx is not None else None
        _follow_up(post, decision, message, block, digest_form)
    return post


def _judge(
    ml: MailingList, raw: bytes, sender: str, verdict: authentication.Verdict | None = None
) -> tuple[InFlight | None, rules.Decision, bytes]:
    """Parse, decide and (if accepted) transform; the message's faults become a decision."""
    ctx: InFlight | None = None
    try:
        ctx = parse_message(ml, raw, sender)
        ctx.auth = verdict
        decision = rules.decide(ctx)
        message = pipeline.run(ctx) if decision.status == PostStatus.ACCEPTED else b""
        return ctx, decision, message
    except Stop as stop:
        return ctx, rules.Decision(stop.status, stop.reason), b""
    except DatabaseError:
        raise  # the LMTP server answers 451 and Postfix tries again later
    except Exception as exc:  # a message our code cannot digest waits for a person
        mail_event(
            "post_unprocessable",
            message_id=ctx.message_id if ctx is not None else None,
            mailing_list=ml,
            level=logging.ERROR,
            exc_info=True,
            sender=sender,
        )
        reason = f"the message could not be processed ({type(exc).__name__}: {exc})"
        return ctx, rules.Decision(PostStatus.HELD, reason), b""


def _follow_up(
    post: Post,
    decision: rules.Decision,
    message: bytes,
    block: h.HeaderBlock,
    digest_form: bytes | None = None,
) -> None:
    ml = post.mailing_list
    if decision.status == PostStatus.ACCEPTED:
        delivery = enqueue_post(
            post, message, envelope_from=ml.suffixed(RouteKind.BOUNCES), digest_form=digest_form
        )
        archive_post(post)  # same transaction: archived exactly when it is sent
        mail_event(
            "post_accepted",
            message_id=post.message_id,
            mailing_list=ml,
            sender=post.sender,
            post=post.id,
            recipients=delivery.total,
        )
        return
    mail_event(
        f"post_{decision.status}",
        message_id=post.message_id,
        mailing_list=ml,
        sender=post.sender,
        post=post.id,
        reason=decision.reason,
    )
    if decision.status == PostStatus.HELD:
        notify_held(ml)
    elif decision.status == PostStatus.REJECTED:
        context = {"subject": post.subject, "reason": decision.reason, "received": post.received}
        reply("post-rejected", post.sender, context, mailing_list=ml, original=block)


def answer_unknown_recipient(recipient: str, raw: bytes, sender: str) -> str:
    """Mail for a list address that was gone by the time Postfix delivered it.

    Postfix already said 250 to the poster, so a refusal now would become a
    null-sender bounce that has to leave through SES. We tell the poster
    ourselves instead (unless they are a robot) and return what happened.
    """
    block = h.split(wire_form(raw))[0]
    context = {"address": recipient, "subject": block.get_text("Subject") or ""}
    told = reply("no-such-list", sender, context, mailing_list=None, original=block)
    result = "poster told" if told else "dropped: the sender is automatic, nobody told"
    mail_event(
        "post_no_such_list",
        message_id=block.get("Message-ID"),
        mailing_list=recipient,
        sender=sender,
        result=result,
    )
    return result


def _text(value: str | None, limit: int) -> str:
    # PostgreSQL refuses NUL in text columns; a header may carry one.
    return (value or "").replace("\x00", "")[:limit]


def forward_to_owners(ml: MailingList, raw: bytes, sender: str) -> str:
    """Re-send mail for NAME-owner@ to the owners (moderators, then site admins, if none).

    From becomes the -owner address (SES sends only verified identities) and
    Reply-To the original sender, so the owners' "Reply" reaches them. The
    message and the result are kept as an InboundMessage.
    """
    with transaction.atomic():
        result = _forward_to_owners(ml, raw, sender)
        record_inbound(ml, InboundKind.OWNER, raw, sender, result)
    log.info("mail to %s from <%s>: %s", ml.suffixed(RouteKind.OWNER), sender, result)
    return result


def _forward_to_owners(ml: MailingList, raw: bytes, sender: str) -> str:
    owner = ml.suffixed(RouteKind.OWNER)
    block, body = h.split(wire_form(raw))
    if any(owner.lower() in v.lower() for v in block.get_all("X-Loop")):
        return "dropped: it already went through this list's owner address (X-Loop)"
    references = " ".join(block.get_all("In-Reply-To") + block.get_all("References"))
    automatic = why_automatic(block, sender)
    if automatic and is_reply_to_notice(references):
        # A vacation responder answering one of our notices: nobody needs it.
        return f"dropped: {automatic}, in answer to one of the list's own notices"
    author = read_author(block)
    who = author.email if author else sender.strip().strip("<>")
    if who and is_banned(ml, who):
        return f"dropped: {who} is banned"
    if author is not None and address_key(author.email) == address_key(owner):
        return "dropped: it comes from the owner address itself"
    to = staff_of(ml, roles=(Role.OWNER,), admins=False) or staff_of(ml)
    if not to:
        return "dropped: the list has no owners, moderators or site admins"
    clean_headers.handle(
        InFlight(ml, raw, sender, block, body)
    )  # removes List-*, DKIM, Sender, ...
    name = (
        f"{(author.name or author.email) if author else who or 'Someone'} via {ml.local_part}-owner"
    )
    block.replace("From", h.fold_address("From", h.format_address(name, owner)))
    if block.get("Reply-To") is None and who:
        shown = h.format_address(author.name if author else "", who)
        block.add(h.fold_address("Reply-To", shown))
    block.add(h.fold_ascii("X-Loop", owner))
    if block.get("Message-ID") is None:
        block.add(h.fold_ascii("Message-ID", make_msgid(domain=ml.domain)))
    enqueue_message(
        block.as_bytes() + h.CRLF + body, to, envelope_from=ml.suffixed(RouteKind.BOUNCES)
    )
    return f"forwarded to {len(to)} owner(s)"
