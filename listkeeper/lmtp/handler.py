"""What the LMTP server says to Postfix, as plain functions.

`check_recipient` answers RCPT; `deliver` answers DATA with one reply per
recipient (RFC 2033). Both are synchronous Django code that tests call without
sockets; `LMTPHandler` runs them in a thread pool so the event loop keeps
serving other connections while the database works.

The rule for every reply: 250 only once what we were given is committed to the
database (the post, its decision and its delivery ledger in one transaction);
4xx whenever we could not store it, so Postfix keeps the message and retries;
5xx only for mail that must not be retried (no such list, too big).
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
from django.utils import timezone

from listkeeper.lib.log import mail_event, message_id_of
from listkeeper.lists.models import InboundKind, InboundMessage, MailingList
from listkeeper.lists.routing import Route, RouteKind, resolve

log = logging.getLogger(__name__)

RCPT_OK = "250 2.1.5 OK"
TRY_LATER = "451 4.3.0 Cannot store the message right now; please try again later"


def no_such_list(address: str) -> str:
    return f"550 5.1.1 <{address}>: no such list or list address here"


def too_big(size: int, ml: MailingList) -> str:
    return f"552 5.3.4 Message is {size} bytes; {ml.address} accepts at most {ml.max_message_size}"


def _process() -> ModuleType:
    # The mail layer sits above delivery and below lmtp; imported when first
    # needed so `lmtpd` starts (and answers RCPT) even while it loads.
    from listkeeper.mail import process

    return process


def check_recipient(address: str) -> str:
    """The reply to RCPT TO:<address>."""
    try:
        route = resolve(address)
    except DatabaseError as exc:
        log.warning("RCPT %s: database unavailable: %s", address, exc)
        return "451 4.3.0 Cannot look up the recipient right now; please try again later"
    return RCPT_OK if route is not None else no_such_list(address)


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


def deliver_one(raw: bytes, sender: str, recipient: str) -> str:
    """Handle the message for one recipient; the LMTP reply for that recipient."""
    try:
        with transaction.atomic():
            route = resolve(recipient)
            if route is None:
                return no_such_list(recipient)  # the list went away after RCPT
            ml = route.mailing_list
            if route.kind != RouteKind.BOUNCES and len(raw) > ml.max_message_size:
                return too_big(len(raw), ml)
            if route.kind == RouteKind.POST:
                post = _process().handle_post(ml, raw, sender)
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
                act = (
                    process.handle_request
                    if route.kind == RouteKind.REQUEST
                    else process.forward_to_owners
                )
                result = act(ml, raw, sender)
                InboundMessage.objects.create(
                    mailing_list=ml,
                    kind=InboundKind.REQUEST
                    if route.kind == RouteKind.REQUEST
                    else InboundKind.OWNER,
                    recipient=recipient,
                    sender=sender,
                    raw=raw,
                    processed=timezone.now(),
                    result=str(result or "")[:300],
                )
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


def deliver(raw: bytes, sender: str, recipients: list[str]) -> list[str]:
    """One reply per recipient, in RCPT order (RFC 2033 section 4.2)."""
    return [deliver_one(raw, sender, rcpt) for rcpt in recipients]


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
