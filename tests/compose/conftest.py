"""Fixtures for the `compose` tests: a Docker engine, the images, compose stacks.

Run them alone with `make test-compose` (README, "Tests"). They are left out
of a plain `make test` (pyproject's addopts has -m "not compose"): each run
builds three images and starts several stacks, minutes of a 2-core machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.compose.engine import Engine, Unavailable, build_images, engine
from tests.compose.stack import Stack, members_file
from tests.support.compose import TIMINGS, start_stack

# Set by .ci/run: there, an engine that cannot be had is a failure, not a skip.
REQUIRED = os.environ.get("LISTKEEPER_COMPOSE_REQUIRED") == "1"
SIZES: dict[str, int] = {}


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


@pytest.fixture(scope="module")
def stack(
    docker_engine: Engine,
    images: dict[str, int],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """One stack per test module (starting one costs a minute), taken down after it.

    The module may set STACK_SETTINGS (compose variables) and SES_STAND_IN
    (the stand-in's configuration, e.g. its rate limit).
    """
    module = request.module
    workdir = tmp_path_factory.mktemp(module.__name__.rsplit(".", 1)[-1])
    stack = start_stack(docker_engine, workdir, getattr(module, "STACK_SETTINGS", {}))
    try:
        stack.write_ses_config(**getattr(module, "SES_STAND_IN", {}))
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
def members(
    stack: Stack, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> list[str]:
    """The module's MEMBERS addresses (its SENDER first), imported as docs/migration.md says."""
    path = tmp_path_factory.mktemp("aliases") / "virtual_aliases.cf"
    members = members_file(path, request.module.MEMBERS, request.module.SENDER)
    imported = stack.import_aliases(path)
    assert imported.returncode == 0, imported.stderr
    stack.accept_unauthenticated()
    return [m.lower() for m in members]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SIZES:
        terminalreporter.write_sep("-", "compose: image sizes")
        for name, size in SIZES.items():
            terminalreporter.write_line(f"{name}: {size / 1e6:.0f} MB")
    if TIMINGS:
        terminalreporter.write_sep("-", "compose: timings")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what}: {seconds:.0f}s")
