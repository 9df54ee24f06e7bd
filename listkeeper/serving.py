"""The parts `listkeeper serve` runs in one process, each with start() and stop().

A part that cannot run here (no postfix binary, not root) raises
PartUnavailable in start(); serve says why and runs the rest. Parts start in
list order and stop in reverse order, so a part may rely on those before it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import replace
from typing import Any, Protocol

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from listkeeper.lib.serveurl import serve_url
from listkeeper.postfix.instance import (
    PostfixError,
    PostfixInstance,
    default_instance,
    postfix_binary,
)

logger = logging.getLogger(__name__)


class PartUnavailable(Exception):
    """This part cannot run here; str() says why. The others still run."""


class Part:
    name = "part"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """Where it listens, for the start-up message."""
        return ""


class WebServer(Part):
    """The Django app on a threaded WSGI server (SERVE)."""

    name = "web"

    def __init__(self, address: tuple[str, int] | None = None) -> None:
        self.address = address or settings.SERVE
        self._server: ThreadedWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        host, port = self.address
        try:
            server = ThreadedWSGIServer((host, port), WSGIRequestHandler, allow_reuse_address=True)
        except OSError as exc:
            raise OSError(
                f"the web server cannot listen on {host}:{port} (SERVE): {exc.strerror}"
            ) from None
        server.daemon_threads = True
        server.set_app(WSGIHandler())
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def describe(self) -> str:
        host, port = self._server.server_address[:2] if self._server else self.address
        here = serve_url(str(host), int(port))
        text = f"sign in at {here}/accounts/login/ (status page: {here}/status/)"
        if settings.SITE_URL != here:
            text += f"; links in mail use SITE_URL={settings.SITE_URL}"
        return text


class PrivatePostfix(Part):
    """The private Postfix instance under DATA_DIR/postfix (docs/postfix.md)."""

    name = "postfix"

    def __init__(self, instance: PostfixInstance | None = None) -> None:
        self.instance = instance or default_instance()

    def start(self) -> None:
        if postfix_binary() is None:
            raise PartUnavailable(
                "no postfix binary (apt-get install postfix postfix-sqlite postfix-pgsql)"
            )
        try:
            self.instance.start()
        except PostfixError as exc:
            raise PartUnavailable(str(exc)) from None

    def stop(self) -> None:
        self.instance.stop()

    def describe(self) -> str:
        (host, port), (rhost, rport) = (
            self.instance.options.smtp_listen,
            self.instance.options.reinject_listen,
        )
        relay_host, relay_port = self.instance.options.relay
        return (
            f"SMTP on {host}:{port}, reinjection on {rhost}:{rport}, relay [{relay_host}]:{relay_port}, "
            f"log {self.instance.log_file}"
        )


class AsyncServer(Part):
    """An asyncio server from the mail path, in a thread with its own event loop.

    `serve(host, port, stop, ready)` listens until `stop` is set and reports
    the port it bound through `ready` (LMTP server, catcher).
    """

    def __init__(self, name: str, serve: Any, address: tuple[str, int], label: str) -> None:
        self.name, self._serve, self.address, self.label = name, serve, address, label
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[int] = concurrent.futures.Future()

        async def main() -> None:
            self._stop = asyncio.Event()
            ready: asyncio.Future[int] = loop.create_future()
            ready.add_done_callback(lambda f: started.set_result(f.result()))
            try:
                await self._serve(*self.address, self._stop, ready)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(main())
            except Exception:  # reported through `started`, or logged by serve()
                pass
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        try:
            self.port = started.result(timeout=30)
        except OSError as exc:
            host, port = self.address
            raise OSError(
                f"the {self.label} cannot listen on {host}:{port}: {exc.strerror}"
            ) from None

    def stop(self) -> None:
        if (
            self._loop is not None
            and self._stop is not None
            and self._thread is not None
            and self._thread.is_alive()
        ):
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(60)

    def describe(self) -> str:
        return f"{self.label} on {self.address[0]}:{self.port}"


def lmtp_server() -> AsyncServer:
    from listkeeper.lmtp.server import serve

    return AsyncServer(
        "lmtp", serve, settings.LMTP_LISTEN, "LMTP (Postfix delivers list mail here)"
    )


def handoff_policy() -> AsyncServer:
    from listkeeper.delivery import handoff

    return AsyncServer(
        "handoff",
        handoff.serve,
        settings.HANDOFF_POLICY_LISTEN,
        "hand-off policy (Postfix records each copy here before its 250)",
    )


def catcher() -> AsyncServer:
    from listkeeper.delivery import catcher as outbox

    part = AsyncServer(
        "catcher",
        outbox.serve,
        settings.CATCHER_LISTEN,
        f"catcher (no SES_USER: mail is kept in {outbox.outbox_dir()})",
    )
    return part


class FanOutWorker(Part):
    """The delivery worker (listkeeper worker), handing copies to Postfix's reinjection listener."""

    name = "worker"

    def __init__(self, quota_off: str = "") -> None:
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.worker: Any = None
        self.quota_off = quota_off  # why SES's quota is not asked (relaying to the catcher)

    def start(self) -> None:
        from listkeeper.delivery.worker import Worker

        self.worker = Worker.from_settings()
        self.worker.quota_off = self.quota_off
        loop = self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.worker.run())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.worker.stopping.set)
            self._thread.join(60)

    def describe(self) -> str:
        rate = settings.SES_MAX_SEND_RATE
        pace = f"at most {rate:g} recipients/s" if rate > 0 else "unpaced"
        host, port = settings.REINJECT_HOST
        return (
            f"hands copies to {host}:{port} over {settings.WORKER_CONNECTIONS} connections, {pace}"
        )


class Housekeeping(Part):
    """Every minute: expire held posts past their limit, send postponed held-post notices,
    close bounce probes that waited long enough without bouncing, send the digests
    that are due."""

    name = "housekeeping"
    every = 60.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from django.db import close_old_connections

        from listkeeper.delivery import digests
        from listkeeper.feedback import probes
        from listkeeper.mail.moderation import housekeeping

        def run() -> None:
            while not self._stop.wait(self.every):
                try:
                    housekeeping()
                    probes.expire()
                    digests.send_due()
                except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
                    logger.exception("housekeeping failed; trying again in %ss", self.every)
                finally:
                    close_old_connections()

        self._thread = threading.Thread(target=run, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def describe(self) -> str:
        return (
            "expires held posts and bounce probes, sends postponed moderator notices"
            f" and due digests every {self.every:g} s"
        )


class CatchingPostfix(PrivatePostfix):
    """The private Postfix relaying to the catcher instead of SES (no SES_USER)."""

    def __init__(self, catcher: AsyncServer) -> None:
        super().__init__()
        self.catcher = catcher

    def start(self) -> None:
        # The catcher started first and bound its port; plain SMTP, no SASL, on loopback.
        self.instance.options = replace(
            self.instance.options,
            relay=(self.catcher.address[0], self.catcher.port),
            relay_tls="none",
            ses_user="",
            ses_pass="",
        )
        super().start()


def default_parts(*, postfix: bool = True) -> list[Part]:
    """What serve runs: LMTP before Postfix (it delivers there), the worker after it."""
    parts: list[Part] = [lmtp_server()]
    quota_off = ""
    if postfix:
        parts.append(handoff_policy())
        if settings.SES_USER:
            parts.append(PrivatePostfix())
        else:
            outbox = catcher()
            parts += [outbox, CatchingPostfix(outbox)]
            quota_off = "no SES_USER: Postfix relays to the local catcher, not SES"
    parts += [FanOutWorker(quota_off), Housekeeping(), WebServer()]
    return parts


class Output(Protocol):
    """Where start_all and stop_all report: a stream, or a command's self.stdout."""

    def write(self, msg: str, /) -> object: ...

    def flush(self) -> object: ...


def start_all(parts: list[Part], out: Output) -> list[Part]:
    """Start the parts in order; return those running. On failure stop them and raise."""
    running: list[Part] = []
    try:
        for part in parts:
            try:
                part.start()
            except PartUnavailable as exc:
                out.write(f"  {part.name:<9} not started: {exc}\n")
                continue
            running.append(part)
            out.write(f"  {part.name:<9} {part.describe()}\n")
            out.flush()
    except BaseException:
        stop_all(running, out)
        raise
    return running


def stop_all(parts: list[Part], out: Output) -> None:
    for part in reversed(parts):
        try:
            part.stop()
        except Exception as exc:  # keep stopping the others
            out.write(f"  {part.name}: stopping failed: {exc}\n")
