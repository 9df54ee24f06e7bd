"""Fixtures for the `compose` tests: a Docker engine, the images, compose stacks.

Run them alone with `make test-compose` (README, "Tests"). They are left out
of a plain `make test` (pyproject's addopts has -m "not compose"): each run
builds three images and starts several stacks, minutes of a 2-core machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.engine import Engine, Unavailable, build_images, engine
from tests.compose.stack import Stack

# Set by .ci/run: there, an engine that cannot be had is a failure, not a skip.
REQUIRED = os.environ.get("LISTKEEPER_COMPOSE_REQUIRED") == "1"
SIZES: dict[str, int] = {}
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    try:
        with engine() as found:
            yield found
            TIMINGS.update(found.timings)
    except Unavailable as exc:
        if REQUIRED:
            pytest.fail(f"compose tests required but no engine: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def images(docker_engine: Engine) -> dict[str, int]:
    """Built once per run: the app, Postfix and test PostgreSQL images."""
    sizes = build_images(docker_engine)
    SIZES.update(sizes)
    return sizes


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SIZES:
        terminalreporter.write_sep("-", "compose: image sizes")
        for name, size in SIZES.items():
            terminalreporter.write_line(f"{name}: {size / 1e6:.0f} MB")
    if TIMINGS:
        terminalreporter.write_sep("-", "compose: timings")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what}: {seconds:.0f}s")
