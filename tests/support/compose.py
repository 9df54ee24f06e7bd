"""Starting the compose stack for the container tests."""

from __future__ import annotations

import time
from pathlib import Path

from tests.compose.engine import Engine
from tests.compose.stack import Stack


def start_stack(
    docker_engine: Engine, workdir: Path, settings: dict[str, str] | None = None, *up: str
) -> Stack:
    stack = Stack(docker_engine, workdir, settings=settings or {})
    stack.prepare()
    started = time.monotonic()
    try:
        stack.up(*up)
    except BaseException:
        print(stack.logs(tail=200))
        stack.down()
        raise
    TIMINGS[f"stack up {stack.project}"] = time.monotonic() - started
    return stack


TIMINGS: dict[str, float] = {}
