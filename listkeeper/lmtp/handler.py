"""What the LMTP server says to Postfix, as plain functions.

`check_recipient` answers RCPT; `deliver` answers DATA with one reply per
recipient (RFC 2033). Both are synchronous Django code that tests call without
sockets; `LMTPHandler` runs them in a thread pool so the event loop keeps
serving other connections while the database works.

The rule for every reply: 250 only once what we were given is committed to the
database (the post, its decision and its delivery ledger in one transaction);
4xx whenever we could not store it, so Postfix keeps the message and retries.
Never 5xx after DATA: Postfix already said 250 to the poster, and a refusal
now would become Postfix's own null-sender bounce, which SES will not carry.
A post that is too big, looped, banned, refused by policy, or addressed to a
list deleted meanwhile gets 250 and ends held or refused with a notice we send
ourselves (mail/process.py). RCPT is answered 250 for any address in a domain
we serve, for the same reason: Postfix checked the recipient when the poster
was still connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from django.db import DatabaseError, close_old_connections, connection, transaction

from listkeeper.lib.log import mail_event, message_id_of
from listkeeper.lists.routing import Route, RouteKind, resolve, serves_domain
from listkeeper.mail.models import InboundKind, InboundMessage

log = logging.getLogger(__name__)

RCPT_OK = "250 2.1.5 OK"
TRY_LATER = "451 4.3.0 Cannot store the message right now; please try again later"


def no_such_list(address: str) -> str:
    return f"550 5.1.1 <{address}>: no such list or list address here"


def _served_domain(address: str) -> bool:
    return serves_domain(address.strip().strip("<>").rpartition("@")[2])


def _process() -> ModuleType:
    # The mail layer sits above delivery and below lmtp; imported when first
    # needed so `lmtpd` starts (and answers RCPT) even while it loads.
    from listkeeper.mail import process

    return process


def check_recipient(address: str) -> str:
    """The reply to RCPT TO:<address>."""
    try:
        route = resolve(address)
        served = route is not None or _served_domain(address)
    except DatabaseError as exc:
        log.warning("RCPT %s: database unavailable: %s", address, exc)
        return "451 4.3.0 Cannot look up the recipient right now; please try again later"
    # An address in our domains that names no list (any more) is taken too and
    # answered with a notice after DATA: Postfix accepted it while the list existed.
    return RCPT_OK if served else no_such_list(address)


def receive_bounce(route: Route, raw: bytes, sender: str, recipient: str) -> None:
    """The one place mail to NAME-bounces[+TOKEN] enters: stored, then processed once committed."""
    inbound = InboundMessage.objects.create(
        mailing_list=route.mailing_list,
        kind=InboundKind.BOUNCE,
        recipient=recipient,
        sender=sender,
        raw=raw,
    )
    transaction.on_commit(lambda: _process_bounce(inbound))


def _process_bounce(inbound: InboundMessage) -> None:
    # After the commit, so Postfix's 250 never waits on (or is lost to) a
    # failure here; `listkeeper process-bounces` catches up on anything left.
    from listkeeper.feedback import dsn

    try:
        dsn.process_inbound(inbound)
    except Exception:
        log.exception("delivery report %s stored but not processed", inbound.id)


def deliver_one(raw: bytes, sender: str, recipient: str, verdict: Any = None) -> str:
    """Handle the message for one recipient; the LMTP reply for that recipient.

    `verdict`: the post's authentication, checked once per message by `deliver`.
    """
    try:
        with transaction.atomic():
            route = resolve(recipient)
            if route is None:  # the list went away after Postfix accepted the mail
                _process().answer_unknown_recipient(recipient, raw, sender)
                return f"250 2.0.0 <{recipient}> answered: no such list"
            ml = route.mailing_list
            if route.kind == RouteKind.POST:
                post = _process().handle_post(ml, raw, sender, verdict)
                mail_event(
                    "lmtp_stored",
                    message_id=post.message_id,
                    mailing_list=ml,
                    logger=log,
                    sender=sender,
                    status=post.status,
                    size=len(raw),
                )
            elif route.kind in (RouteKind.REQUEST, RouteKind.OWNER):
                process = _process()
                # Both store the message as an InboundMessage themselves (one writer).
                act = (
                    process.handle_request
                    if route.kind == RouteKind.REQUEST
                    else process.forward_to_owners
                )
                act(ml, raw, sender)
            else:
                receive_bounce(route, raw, sender, recipient)
    except DatabaseError as exc:
        mail_event(
            "lmtp_try_later",
            message_id=message_id_of(raw),
            mailing_list=recipient,
            logger=log,
            level=logging.WARNING,
            sender=sender,
            error=f"database: {exc}",
        )
        return TRY_LATER
    except Exception:
        # A bug must not lose mail or stop the server: Postfix keeps it and retries.
        mail_event(
            "lmtp_failed",
            message_id=message_id_of(raw),
            mailing_list=recipient,
            logger=log,
            level=logging.ERROR,
            exc_info=True,
            sender=sender,
        )
        return TRY_LATER
    return f"250 2.0.0 <{recipient}> accepted"


def _verdict(raw: bytes, sender: str, recipients: list[str]) -> Any:
    """The authentication of a post, checked once and outside any transaction (DNS)."""
    try:
        if not any(r is not None and r.kind == RouteKind.POST for r in map(resolve, recipients)):
            return None
    except DatabaseError:
        return None  # deliver_one answers 451 anyway
    return _process().authenticate(raw, sender)


def deliver(raw: bytes, sender: str, recipients: list[str]) -> list[str]:
    """One reply per recipient, in RCPT order (RFC 2033 section 4.2)."""
    verdict = _verdict(raw, sender, recipients)
    return [deliver_one(raw, sender, rcpt, verdict) for rcpt in recipients]


def _in_thread(fn: Any, *args: Any) -> Any:
    # Like a Django request: drop broken or expired connections around the work,
    # so a database that restarted is reconnected to on the next message.
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


class LMTPHandler:
    """aiosmtpd hooks around the functions above."""

    def __init__(self, threads: int = 4) -> None:
        self._threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lmtp-db")
        self.in_flight = 0

    async def _run(self, fn: Any, *args: Any) -> Any:
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, _in_thread, fn, *args
            )
        finally:
            self.in_flight -= 1

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = await self._run(check_recipient, address)
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or b""
        sender = envelope.mail_from or ""
        sender = "" if sender == "<>" else sender  # the null sender of bounces
        replies = await self._run(deliver, raw, sender, list(envelope.rcpt_tos))
        # aiosmtpd writes one status; LMTP wants one line per recipient.
        return "\r\n".join(replies)

    def shutdown(self) -> None:
        """Wait for work in progress, then close every thread's database connection."""
        # One task per thread, held at a barrier so each thread runs exactly one.
        barrier = threading.Barrier(self._threads, timeout=10)

        def close() -> None:
            connection.close()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

        for _ in range(self._threads):
            self._pool.submit(close)
        self._pool.shutdown(wait=True)
