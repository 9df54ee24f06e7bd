"""Commands mailed to NAME-request@: subscribe, unsubscribe, help.

A command is the first word of the Subject (after any "Re:") or of one of
the first lines of the text body; reading stops at the first line that is
not a command, a quote or a signature. Each command runs once.

- subscribe: the From address becomes a pending member and gets a
  confirmation link (double opt-in, so a forged From subscribes nobody).
- unsubscribe: takes effect at once for the From address (or, if that is
  not subscribed, the envelope sender), is in the audit log, and is
  acknowledged. That is what RFC 2369's mailto unsubscribe promises, and a
  forged request can only do what the one-click link in every copy can.
- digest on | plain | off: the From address's delivery becomes the MIME
  digest, the plain-text (RFC 1153) digest, or each post again. Like
  unsubscribe it takes effect for the From address and is acknowledged to
  it; a switch between each post and the digest waits for the next issue
  (docs/digests.md). "digest" alone means "digest on".
- help: the list's help text. A message with no command gets it too.
"""

from __future__ import annotations

import email
import logging
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from listkeeper.delivery.notices import language_for
from listkeeper.lib import links
from listkeeper.lib.addresses import Address, InvalidAddress, parse
from listkeeper.lists import services
from listkeeper.lists.bans import is_banned
from listkeeper.lists.models import (
    DeliveryMode,
    MailingList,
    RouteKind,
    Source,
    Status,
    Subscription,
)
from listkeeper.mail import headers as h
from listkeeper.mail.context import read_author, wire_form
from listkeeper.mail.handlers.subject_tag import REPLY_PREFIXES
from listkeeper.mail.models import INBOUND_ADDRESS, InboundKind, InboundMessage
from listkeeper.mail.replies import reply, why_not_answer

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

log = logging.getLogger("listkeeper.mail")

COMMANDS = {
    "subscribe": "subscribe",
    "join": "subscribe",
    "unsubscribe": "unsubscribe",
    "leave": "unsubscribe",
    "signoff": "unsubscribe",
    "help": "help",
    "info": "help",
    "digest": "digest",
}
# `digest WORD`: the delivery mode each word chooses.
DIGEST_WORDS = {
    "on": DeliveryMode.DIGEST,
    "mime": DeliveryMode.DIGEST,
    "plain": DeliveryMode.DIGEST_PLAIN,
    "text": DeliveryMode.DIGEST_PLAIN,
    "off": DeliveryMode.REGULAR,
}
BODY_LINES = 10
# The audit actor for what people do by mail to themselves. Not the address:
# erase_member must be able to wipe every trace of it.
ACTOR = "email:self"
# A From can be forged: send one confirmation per address per hour at most,
# so -request cannot be used to bomb someone with confirmation mail.
CONFIRM_RESEND_AFTER = timedelta(hours=1)


def _command(text: str) -> str | None:
    words = REPLY_PREFIXES.sub("", text).strip().split()
    command = COMMANDS.get(words[0].lower().strip(".:!")) if words else None
    if command == "digest":
        word = words[1].lower().strip(".:!") if len(words) > 1 else "on"
        return f"digest {word}" if word in DIGEST_WORDS else None
    return command


def _body_text(raw: bytes) -> str:
    try:
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(preferencelist=("plain",))
        return str(part.get_content()) if part is not None else ""
    except Exception:  # an undecodable body simply holds no commands
        return ""


def find_commands(subject: str, body: str) -> list[str]:
    found: list[str] = []
    first = _command(subject)
    if first:
        found.append(first)
    seen = 0
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(">") or line.startswith("--") or seen >= BODY_LINES:
            break
        seen += 1
        command = _command(line)
        if command is None:
            break
        if command not in found:
            found.append(command)
    return found


def handle_request(ml: MailingList, raw: bytes, sender: str) -> str:
    """Carry out the commands in mail to NAME-request@; returns what happened.

    The message and the result are kept as an InboundMessage, in the same
    transaction as the changes the commands made.
    """
    with transaction.atomic():
        result = _handle_request(ml, raw, sender)
        record_inbound(ml, InboundKind.REQUEST, raw, sender, result)
    log.info("request to %s from <%s>: %s", ml.suffixed(RouteKind.REQUEST), sender, result)
    return result


def record_inbound(
    ml: MailingList, kind: InboundKind, raw: bytes, sender: str, result: str
) -> InboundMessage:
    return InboundMessage.objects.create(
        mailing_list=ml,
        kind=kind,
        recipient=ml.suffixed(INBOUND_ADDRESS[kind]),
        sender=sender.strip().strip("<>")[:254],
        raw=raw,
        processed=timezone.now(),
        result=result[:300],
    )


def _handle_request(ml: MailingList, raw: bytes, sender: str) -> str:
    canonical = wire_form(raw)
    block, _ = h.split(canonical)
    why = why_not_answer(block)
    if why:
        return f"ignored: {why}"
    author = read_author(block)
    if author is None:
        try:
            author = parse(sender)
        except InvalidAddress:
            return "ignored: no From address and no usable envelope sender"
    if is_banned(ml, author.email):
        return f"ignored: {author.email} is banned"
    commands = find_commands(block.get_text("Subject") or "", _body_text(canonical)) or ["help"]
    results = []
    for command in commands:
        if command == "subscribe":
            results.append(_subscribe(ml, author, block))
        elif command == "unsubscribe":
            results.append(_unsubscribe(ml, author, sender, block))
        elif command.startswith("digest "):
            results.append(_digest(ml, author, block, DIGEST_WORDS[command.split()[1]]))
        else:
            reply("request-help", author.email, {}, mailing_list=ml, original=block)
            results.append(f"help sent to {author.email}")
    return "; ".join(results)


# The command as the reply names it ("You asked the list … to subscribe …"),
# translated when the reply is rendered in the recipient's language.
COMMAND_WORDS = {
    "subscribe": gettext_lazy("subscribe"),
    "unsubscribe": gettext_lazy("unsubscribe"),
    "send digests to": gettext_lazy("send digests to"),
    "stop digests for": gettext_lazy("stop digests for"),
}


def _result(ml: MailingList, to: str, block: h.HeaderBlock, command: str, outcome: str) -> None:
    context = {"command": COMMAND_WORDS.get(command, command), "outcome": outcome, "address": to}
    reply("request-result", to, context, mailing_list=ml, original=block)


def mail_context(ml: MailingList, address: str) -> dict[str, object]:
    return {
        "address": address,
        "list_url": links.list_page_url(ml.local_part, ml.domain),
        "manage_url": links.manage_url(address),
        "expires_days": getattr(settings, "CONFIRM_LINK_DAYS", 7),
    }


def _subscribe(ml: MailingList, author: Address, block: h.HeaderBlock) -> str:
    if not ml.public:
        _result(ml, author.email, block, "subscribe", "closed")
        return f"subscribe refused for {author.email}: the list takes no requests"
    before = Subscription.objects.filter(mailing_list=ml, member__key=author.key).first()
    try:
        result = services.subscribe(
            ml, author, actor=ACTOR, source=Source.EMAIL, status=Status.PENDING
        )
    except services.ServiceError as exc:  # banned meanwhile
        return f"subscribe refused for {author.email}: {exc}"
    sub = result.subscription
    if sub.status == Status.ACTIVE:
        _result(ml, author.email, block, "subscribe", "already")
        return f"{author.email} is already subscribed"
    recently = (
        before is not None
        and before.status == Status.PENDING
        and (timezone.now() - before.updated < CONFIRM_RESEND_AFTER)
    )
    if recently:
        return f"confirmation for {author.email} already sent within the hour; not sent again"
    if before is not None and before.status == Status.PENDING:
        Subscription.objects.filter(id=sub.id).update(updated=timezone.now())
    context = mail_context(ml, author.email)
    context["confirm_url"] = links.confirm_url(ml.id, author.email)
    reply("confirm", author.email, context, mailing_list=ml, original=block)
    return f"confirmation sent to {author.email}"


def _unsubscribe(ml: MailingList, author: Address, sender: str, block: h.HeaderBlock) -> str:
    candidates = [author.email]
    try:
        candidates.append(parse(sender).email)
    except InvalidAddress:
        pass
    for address in candidates:
        sub = (
            Subscription.objects.filter(mailing_list=ml, member__key=address.lower())
            .exclude(status=Status.UNSUBSCRIBED)
            .select_related("member", "mailing_list")
            .first()
        )
        if sub is not None:
            services.unsubscribe(
                sub, actor=ACTOR, reason="unsubscribe command mailed to the -request address"
            )
            reply(
                "unsubscribe-ack",
                sub.member.email,
                {"address": sub.member.email},
                mailing_list=ml,
                original=block,
            )
            return f"{sub.member.email} unsubscribed"
    _result(ml, author.email, block, "unsubscribe", "not-member")
    return f"unsubscribe: {author.email} is not subscribed"


# What the member now gets: "From the next digest on, ADDRESS gets WHAT."
DELIVERY_NOW: dict[str, StrPromise] = {
    DeliveryMode.REGULAR: gettext_lazy("%(address)s gets each post as it is sent."),
    DeliveryMode.DIGEST: gettext_lazy(
        "%(address)s gets the digest (one message with the posts attached)."
    ),
    DeliveryMode.DIGEST_PLAIN: gettext_lazy("%(address)s gets the plain-text digest."),
}
DELIVERY_NEXT: dict[str, StrPromise] = {
    DeliveryMode.REGULAR: gettext_lazy(
        "From the next digest on, %(address)s gets each post as it is sent."
    ),
    DeliveryMode.DIGEST: gettext_lazy(
        "From the next digest on, %(address)s gets the digest "
        "(one message with the posts attached)."
    ),
    DeliveryMode.DIGEST_PLAIN: gettext_lazy(
        "From the next digest on, %(address)s gets the plain-text digest."
    ),
}


def _digest(ml: MailingList, author: Address, block: h.HeaderBlock, mode: str) -> str:
    command = "send digests to" if mode != DeliveryMode.REGULAR else "stop digests for"
    sub = (
        Subscription.objects.filter(mailing_list=ml, member__key=author.key)
        .exclude(status=Status.UNSUBSCRIBED)
        .select_related("member", "mailing_list")
        .first()
    )
    if sub is None:
        _result(ml, author.email, block, command, "not-member")
        return f"digest: {author.email} is not subscribed"
    try:
        when = services.set_delivery(sub, mode, actor=ACTOR)
    except services.ServiceError as exc:
        with translation.override(language_for([author.email])):
            refused = _("Nothing has changed: %(problem)s.") % {"problem": exc}
        _result(ml, author.email, block, command, refused)
        return f"digest refused for {author.email}: {exc}"
    sentence = (DELIVERY_NEXT if when == "next-digest" else DELIVERY_NOW)[mode]
    # Worded here, so in the language the reply will be rendered in.
    with translation.override(language_for([author.email])):
        outcome = str(sentence) % {"address": author.email}
    _result(ml, author.email, block, command, outcome)
    return f"{author.email} delivery {mode} ({when})"
