"""The parts `listkeeper serve` runs in one process, each with start() and stop().

A part that cannot run here (no postfix binary, not root) raises
PartUnavailable in start(); serve says why and runs the rest. Parts start in
list order and stop in reverse order, so a part may rely on those before it.
"""

from __future__ import annotations

import threading
from typing import TextIO

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from listkeeper.postfix.instance import PostfixError, PostfixInstance, default_instance, postfix_binary


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
            raise OSError(f"the web server cannot listen on {host}:{port} (SERVE): {exc.strerror}") from None
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
        host, port = self.address
        return f"http://{host}:{port}/status/"


class PrivatePostfix(Part):
    """The private Postfix instance under DATA_DIR/postfix (docs/postfix.md)."""

    name = "postfix"

    def __init__(self, instance: PostfixInstance | None = None) -> None:
        self.instance = instance or default_instance()

    def start(self) -> None:
        if postfix_binary() is None:
            raise PartUnavailable("no postfix binary (apt-get install postfix postfix-sqlite postfix-pgsql)")
        try:
            self.instance.start()
        except PostfixError as exc:
            raise PartUnavailable(str(exc)) from None

    def stop(self) -> None:
        self.instance.stop()

    def describe(self) -> str:
        (host, port), (rhost, rport) = self.instance.options.smtp_listen, self.instance.options.reinject_listen
        relay_host, relay_port = self.instance.options.relay
        return (
            f"SMTP on {host}:{port}, reinjection on {rhost}:{rport}, relay [{relay_host}]:{relay_port}, "
            f"log {self.instance.log_file}"
        )


def default_parts(*, postfix: bool = True) -> list[Part]:
    """What serve runs. The mail path adds its parts here (LMTP before Postfix)."""
    parts: list[Part] = []
    if postfix:
        parts.append(PrivatePostfix())
    parts.append(WebServer())
    return parts


def start_all(parts: list[Part], out: TextIO) -> list[Part]:
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


def stop_all(parts: list[Part], out: TextIO) -> None:
    for part in reversed(parts):
        try:
            part.stop()
        except Exception as exc:  # keep stopping the others
            out.write(f"  {part.name}: stopping failed: {exc}\n")

