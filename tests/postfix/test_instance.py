"""The private Postfix instance: starts, stops, survives leftovers, explains failures."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from listkeeper.postfix.instance import PostfixError, PostfixInstance
from listkeeper.postfix.render import Options
from tests.sesstub import free_port

needs_postfix = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("postfix") is None, reason="needs Postfix and root"
)


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="listkeeper-postfix-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def options() -> Options:
    return Options(
        smtp_listen=("127.0.0.1", free_port()), reinject_listen=("127.0.0.1", free_port())
    )


@needs_postfix
def test_it_names_a_directory_postfix_cannot_enter(root, db) -> None:
    private = root / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    with pytest.raises(PostfixError, match=f"cannot enter {private} \\(mode 0700\\)"):
        PostfixInstance(private / "postfix", options()).start()


@needs_postfix
def test_it_names_a_port_that_is_taken(root, db) -> None:
    instance = PostfixInstance(root, options())
    import socket

    with socket.socket() as sock:
        sock.bind(instance.options.smtp_listen)
        sock.listen()
        with pytest.raises(
            PostfixError, match=f"{instance.options.smtp_listen[1]} .*already in use"
        ):
            instance.start()
    assert not instance.is_running()


@pytest.mark.e2e
@needs_postfix
def test_it_starts_over_a_stale_pid_file_and_stops(root, db) -> None:
    instance = PostfixInstance(root, options())
    dead = subprocess.Popen(["true"])
    dead.wait()
    (root / "queue" / "pid").mkdir(parents=True)
    (root / "queue" / "pid" / "master.pid").write_text(f"{dead.pid:>10}\n")
    assert not instance.is_running()
    instance.stop()  # nothing to stop: no error

    instance.start()
    try:
        assert instance.is_running()
        assert "running" in instance.describe()
    finally:
        instance.stop()
    assert not instance.is_running()
    assert "not running" in instance.describe()
