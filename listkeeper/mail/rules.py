"""The decision on a post: each rule accepts quietly or raises Hold, Reject or
Discard with a reason a moderator can read. `decide` runs them in order.

Who the poster is: the From: address (the envelope sender is checked for bans
too). Members are subscriptions that are active or disabled by bounces (they
may still post); pending and unsubscribed addresses are not members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses

from listkeeper.delivery.notices import is_reply_to_notice
from listkeeper.lib.addresses import address_key
from listkeeper.lists.bans import is_banned
from listkeeper.lists.models import (
    ListSender,
    NonMemberAction,
    PostingPolicy,
    Role,
    SenderKind,
    Status,
    Subscription,
    UnauthenticatedAction,
)
from listkeeper.mail.context import InFlight
from listkeeper.mail.errors import Discard, Hold, Reject, Stop
from listkeeper.mail.models import PostStatus
from listkeeper.mail.replies import why_automatic

POSTING_STATUSES = (Status.ACTIVE, Status.DISABLED)
STAFF_ROLES = (Role.OWNER, Role.MODERATOR)


@dataclass(frozen=True)
class Decision:
    status: str  # a PostStatus value
    reason: str


def loop(ctx: InFlight) -> None:
    """Our own List-Id or X-Loop on an incoming post: it came back round.

    Held, not dropped: the owner sees the loop (and can fix the setup that
    made it), and holding stops it just as well; nobody is sent a notice.
    """
    ml = ctx.mailing_list
    for value in ctx.headers_in.get_all("List-Id"):
        if f"<{ml.list_id}>" in value.lower():
            raise Hold(f"mail loop: the message already carries this list's List-Id <{ml.list_id}>")
    looped = {address_key(e) for _, e in getaddresses(ctx.headers_in.get_all("X-Loop"))}
    if address_key(ml.address) in looped:
        raise Hold(f"mail loop: the message already carries X-Loop: {ml.address}")


def automatic(ctx: InFlight) -> None:
    """RFC 3834: automatic mail (and mail from the null sender) never reaches the members.

    Held for the owner, who may still approve it; a robot's answer to one of
    our own notices is dropped. Never answered: replies.reply refuses it too.
    """
    why = why_automatic(ctx.headers_in, ctx.envelope_sender)
    if not why:
        return
    references = " ".join(
        ctx.headers_in.get_all("In-Reply-To") + ctx.headers_in.get_all("References")
    )
    if is_reply_to_notice(references):
        raise Discard(f"{why}, in answer to one of the list's own notices")
    raise Hold(f"{why}; automatic mail goes to the members only if a moderator approves it")


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def size(ctx: InFlight) -> None:
    # ctx.size leaves out what our own Postfix added (its Received field), so a
    # post the public smtpd accepted at MAX_MESSAGE_SIZE passes here too.
    limit = ctx.mailing_list.max_message_size
    if limit and ctx.size > limit:
        raise Reject(
            f"the message is {_size(ctx.size)} ({ctx.size} bytes); this list accepts at most "
            f"{_size(limit)} ({limit} bytes). Send a smaller message, "
            "or a link instead of large attachments"
        )


def banned(ctx: InFlight) -> None:
    """Banned senders are refused, and told so (as Mailman does).

    Once Postfix has accepted a post, it ends delivered, held or refused with
    a notice; the notice goes to the envelope sender, never to a robot.
    """
    for address in (ctx.author.email if ctx.author else "", ctx.envelope_sender):
        if address and is_banned(ctx.mailing_list, address):
            scope = "every list on this site" if is_banned(None, address) else "this list"
            raise Reject(f"{address} is banned from {scope}")


def _subscription(ctx: InFlight) -> Subscription | None:
    if ctx.author is None:
        return None
    return (
        Subscription.objects.filter(mailing_list=ctx.mailing_list, member__key=ctx.author.key)
        .exclude(status__in=[Status.PENDING, Status.UNSUBSCRIBED])
        .first()
    )


def _listed(ctx: InFlight, kind: str) -> bool:
    return (
        ctx.author is not None
        and ListSender.objects.filter(
            mailing_list=ctx.mailing_list, key=ctx.author.key, kind=kind
        ).exists()
    )


def _claims_rights(ctx: InFlight) -> bool:
    """The From address has posting rights of its own: a member, an allowed sender, a poster."""
    return (
        _subscription(ctx) is not None
        or _listed(ctx, SenderKind.ALLOWED)
        or _listed(ctx, SenderKind.POSTER)
    )


def authentication(ctx: InFlight) -> str | None:
    """A member's address in From proves nothing unless the author's domain agrees.

    Applies where the From domain publishes DMARC p=quarantine or p=reject and
    the post fails it (no aligned DKIM signature or SPF pass): the list's
    unauthenticated_action holds, rejects or accepts it. A lookup that failed
    holds the post (never refuses it). Domains without such a policy, and
    posts that pass, go on to the posting policy as before; so do non-members,
    whom the posting policy treats as non-members anyway.
    """
    verdict = ctx.auth
    if verdict is None or verdict.dmarc == "pass" or ctx.author is None:
        return None
    if verdict.dmarc != "temperror" and not verdict.enforced:
        return None
    if not _claims_rights(ctx):
        return None
    who = ctx.author.email
    if verdict.dmarc == "temperror":
        raise Hold(
            f"could not check that {who} really sent this ({verdict.summary()}); "
            "held until a moderator looks, rather than refused"
        )
    why = (
        f"{who} is on this list, but this message does not come from them: "
        f"{verdict.from_domain} publishes DMARC p={verdict.policy} and the message "
        f"fails it ({verdict.summary()})"
    )
    action = ctx.mailing_list.unauthenticated_action
    if action == UnauthenticatedAction.REJECT:
        raise Reject(why)
    if action == UnauthenticatedAction.ACCEPT:
        return None  # the list's owner chose to trust From alone
    raise Hold(why)


def _role(sub: Subscription | None) -> str:
    return "an owner" if sub is not None and sub.role == Role.OWNER else "a moderator"


def posting_policy(ctx: InFlight) -> str:
    """Whether this author may post under the list's policy; returns why they may.

    Owners and moderators pass on moderated and announce-only lists: they are
    the people who would approve the post anyway. Allowed senders (the
    moderators' "always allow") pass everywhere except announce-only lists,
    which take only named posters. A member marked "moderated" is always held.
    """
    ml = ctx.mailing_list
    who = ctx.author.email if ctx.author else ctx.envelope_sender or "the sender"
    sub = _subscription(ctx)
    if sub is not None and sub.moderated:
        raise Hold(f"posts from {who} are moderated on this list")
    staff = sub is not None and sub.role in STAFF_ROLES
    if ml.posting_policy == PostingPolicy.OPEN:
        return "anyone may post to this list"
    if ml.posting_policy == PostingPolicy.ANNOUNCE:
        if staff:
            return f"{who} is {_role(sub)} of this announce-only list"
        if _listed(ctx, SenderKind.POSTER):
            return f"{who} is a named poster of this announce-only list"
        raise Hold(f"{who} is not a named poster of this announce-only list")
    if staff:
        return f"{who} is {_role(sub)} of this list"
    if _listed(ctx, SenderKind.ALLOWED):
        return f"{who} is on this list's allowed senders"
    if ml.posting_policy == PostingPolicy.MODERATED:
        raise Hold("this list is moderated: every post waits for a moderator")
    if sub is not None:
        return f"{who} is a member of this list"
    if ml.nonmember_action == NonMemberAction.REJECT:
        raise Reject(f"only members may post to {ml.address}, and {who} is not a member")
    raise Hold(f"{who} is not a member of this members-only list")


RULES: list[Callable[[InFlight], object]] = [
    loop,
    automatic,
    size,
    banned,
    authentication,
    posting_policy,
]


def decide(ctx: InFlight) -> Decision:
    reason = ""
    try:
        for rule in RULES:
            result = rule(ctx)
            if isinstance(result, str):
                reason = result
    except Stop as stop:
        return Decision(stop.status, stop.reason)
    return Decision(PostStatus.ACCEPTED, reason)
