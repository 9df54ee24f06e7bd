""".env.example lists every variable the settings read, and nothing stale."""

from __future__ import annotations

import ast
import re

from tests.support.deploy import ROOT

ENV_HELPERS = {"env", "env_bool", "env_int", "env_float", "env_secret", "env_hostport"}
# Read by the images' own programs, not by us.
THIRD_PARTY = {"POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD_FILE"}


def settings_variables() -> set[str]:
    """Names passed as literals to the env helpers or os.environ in settings.py."""
    tree = ast.parse((ROOT / "listkeeper" / "settings.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ENV_HELPERS:
            names.add(first.value)
            if func.id == "env_secret":
                names.add(first.value + "_FILE")
        elif ast.unparse(func) in ("os.environ.get", "os.getenv"):
            names.add(first.value)
    for node in ast.walk(tree):  # os.environ["NAME"]
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            if isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
    return names


def example_variables() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def compose_interpolated() -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "compose.yaml").read_text()))


def deployment_sources() -> str:
    paths = [
        ROOT / "docker" / "entrypoint.sh",
        ROOT / "postfix" / "entrypoint.sh",
        ROOT / "postfix" / "healthcheck.sh",
        ROOT / "listkeeper" / "gunicorn_conf.py",
    ]
    return "\n".join(p.read_text() for p in paths if p.exists())


def test_it_lists_every_variable_the_settings_read() -> None:
    missing = settings_variables() - example_variables()

    assert not missing, f"add these to .env.example (and docs/configuration.md): {sorted(missing)}"


def test_it_lists_every_variable_compose_fills_in() -> None:
    missing = compose_interpolated() - example_variables()

    assert not missing, f"compose.yaml uses these; add them to .env.example: {sorted(missing)}"


def test_it_lists_nothing_that_nobody_reads() -> None:
    used = settings_variables() | compose_interpolated()
    sources = deployment_sources()
    stale = {name for name in example_variables() - used if not re.search(rf"\b{name}\b", sources)}

    assert not stale, f".env.example lists variables nothing reads: {sorted(stale)}"


def test_it_passes_containers_only_variables_something_reads() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    passed = set(re.findall(r"^\s+([A-Z][A-Z0-9_]*):", compose, re.MULTILINE)) - THIRD_PARTY
    sources = deployment_sources() + (ROOT / "listkeeper" / "settings.py").read_text()
    unread = {
        name
        for name in passed
        if name not in settings_variables() and not re.search(rf"\b{name}\b", sources)
    }

    assert not unread, f"compose.yaml sets variables nothing reads (typo?): {sorted(unread)}"
