"""Run the real fan-out worker in a thread until a condition holds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from listkeeper.delivery.worker import Worker


class WorkerThread:
    def __init__(
        self,
        port: int,
        *,
        name: str = "test-worker",
        rate: float = 0.0,
        connections: int = 2,
        stale_after: float = 30.0,
        claim_size: int = 200,
    ) -> None:
        self.worker = Worker(
            name=name,
            host="127.0.0.1",
            port=port,
            connections=connections,
            account_rate=rate,
            stale_after=stale_after,
            claim_size=claim_size,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self.worker.run())
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self._loop.close()

    def start(self) -> WorkerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.worker.stopping.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "worker did not stop"
        if self.error:
            raise self.error


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
