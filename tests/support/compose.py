"""Starting the compose stack for the container tests."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

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

# The fault tests and the migration rehearsal: run by default (and by .ci/run);
# LISTKEEPER_COMPOSE_FAULTS=0 leaves them out for a quicker run by hand.
LONG = pytest.mark.skipif(
    os.environ.get("LISTKEEPER_COMPOSE_FAULTS") == "0",
    reason="LISTKEEPER_COMPOSE_FAULTS=0: fault tests and migration rehearsal left out",
)
