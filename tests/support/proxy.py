"""A TCP proxy that can stop passing the client's bytes on, for crash tests.

Frozen, it still passes the server's replies back, so whatever the server
accepted the client hears about; nothing more reaches the server. Killing
the client then leaves no transaction the server accepted unrecorded.
"""

from __future__ import annotations

import socket
import threading


class FreezingProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.frozen = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_client and self.frozen.is_set():
                    continue  # swallowed: the server never sees it
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # Shut both sides down: a client that died mid-transaction leaves the
            # server a broken connection, as a crash would (close() alone would
            # not wake the other pump's recv, and Postfix would wait on).
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self) -> None:
        self.frozen.set()

    def close(self) -> None:
        self._closing = True
        self._listener.close()
