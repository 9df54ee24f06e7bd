"""A private Postfix instance: its own config, queue and data directories.

`serve` runs one under DATA_DIR/postfix; the e2e tests run one per test
session on free ports. Postfix's master must start as root (it drops
privileges itself); without root, start() raises PostfixError saying so.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings

from listkeeper.postfix.render import Options, RenderError, render


class PostfixError(RuntimeError):
    """Postfix could not be started or stopped; str() says why."""


def postfix_binary() -> str | None:
    return shutil.which("postfix") or next(
        (p for p in ("/usr/sbin/postfix", "/usr/local/sbin/postfix") if os.access(p, os.X_OK)), None
    )


class PostfixInstance:
    def __init__(self, root: Path | str, options: Options | None = None) -> None:
        self.root = Path(root).resolve()
        base = options or Options()
        self.options = replace(
            base,
            queue_directory=self.queue_dir,
            data_directory=self.data_dir,
            maillog_file=str(self.log_file),
        )

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.root / "queue"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "postfix.log"

    @property
    def pid_file(self) -> Path:
        return self.queue_dir / "pid" / "master.pid"

    def render(self) -> list[Path]:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        # data_directory must belong to mail_owner; postfix creates it so if missing.
        if self.data_dir.exists() and os.geteuid() == 0:
            shutil.chown(self.data_dir, user="postfix")
        return render(self.config_dir, self.options)

    def _postfix(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        binary = postfix_binary()
        if binary is None:
            raise PostfixError(
                "no postfix binary; install postfix, postfix-sqlite and postfix-pgsql"
            )
        return subprocess.run(
            [binary, "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def master_pid(self) -> int | None:
        """The master's pid, or None; ignores a stale pid file left by a crash."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return pid if cmdline and cmdline[0].endswith(b"/master") else None

    def is_running(self) -> bool:
        return self.master_pid() is not None

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {"smtp": self.options.smtp_listen, "reinject": self.options.reinject_listen}

    def start(self, timeout: float = 30) -> None:
        """Render the configuration and start Postfix; return once both smtpd listen."""
        if os.geteuid() != 0:
            raise PostfixError(
                "Postfix's master must be started as root; run as root or without Postfix"
            )
        self._check_reachable()
        if self.is_running():
            self.stop()
        for name, (host, port) in self.listeners().items():
            if _in_use(host, port):
                raise PostfixError(
                    f"{host}:{port} (Postfix {name} listener) is already in use; "
                    f"stop what listens there or choose another port"
                )
        try:
            self.render()
        except RenderError as exc:
            raise PostfixError(str(exc)) from None
        result = self._postfix("start")
        if result.returncode != 0:
            raise PostfixError(f"postfix start failed: {_tail(result)}{self.log_tail()}")
        deadline = time.monotonic() + timeout
        for host, port in self.listeners().values():
            while not _greets(host, port):
                if time.monotonic() > deadline or not self.is_running():
                    self.stop()
                    raise PostfixError(
                        f"Postfix did not start listening on {host}:{port}{self.log_tail()}"
                    )
                time.sleep(0.1)

    def _check_reachable(self) -> None:
        """Postfix's unprivileged daemons must be able to walk to the queue."""
        self.root.mkdir(parents=True, exist_ok=True)
        for directory in [self.root, *self.root.parents]:
            if not directory.stat().st_mode & 0o001:
                raise PostfixError(
                    f"Postfix's daemons (user postfix) cannot enter {directory} (mode "
                    f"{directory.stat().st_mode & 0o777:04o}); allow it (chmod o+x) "
                    f"or put LISTKEEPER_DATA_DIR elsewhere"
                )

    def stop(self, timeout: float = 30) -> None:
        """Stop the master and its children; harmless when nothing runs."""
        pid = self.master_pid()
        if pid is None:
            return
        self._postfix("stop")
        deadline = time.monotonic() + timeout
        while self.master_pid() == pid and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.master_pid() == pid:
            self._postfix("abort")
            time.sleep(0.5)
            if self.master_pid() == pid:
                os.kill(pid, 9)

    def describe(self) -> str:
        if not self.is_running():
            return f"private instance in {self.root}: not running"
        host, port = self.options.smtp_listen
        rhost, rport = self.options.reinject_listen
        # Where it relays to is read from main.cf (configured_relay): these options
        # are the settings, not what `serve` started it with.
        return (
            f"private instance in {self.root}: running; inbound SMTP on {host}:{port}, "
            f"reinjection on {rhost}:{rport}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n" + "\n".join(text) if text else ""


@dataclass(frozen=True)
class Relay:
    """Where a rendered Postfix configuration sends outgoing mail (its main.cf)."""

    host: str
    port: int
    sasl: bool
    tls: str  # "secure" (certificate verified) or "none"


def configured_relay(config_dir: Path) -> Relay | None:
    """The relay of the main.cf in `config_dir`, or None when there is none.

    Read from the file Postfix itself reads, so the status page shows where mail
    really goes (the catcher under `serve` without SES_USER), not the settings.
    """
    try:
        text = (config_dir / "main.cf").read_text()
    except OSError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        name, eq, value = line.partition("=")
        if eq and not line.startswith((" ", "\t", "#")):
            values[name.strip()] = value.strip()
    host, _, port = values.get("relayhost", "").rpartition(":")
    if not host or not port.isdigit():
        return None
    return Relay(
        host=host.strip("[]"),
        port=int(port),
        sasl=values.get("smtp_sasl_auth_enable") == "yes",
        tls="secure" if values.get("smtp_tls_security_level") == "secure" else "none",
    )


def default_instance() -> PostfixInstance:
    """The instance `serve` runs."""
    return PostfixInstance(settings.DATA_DIR / "postfix")


def describe() -> str:
    """Postfix's state for the status page."""
    if postfix_binary() is None:
        return "not installed (no postfix binary); mail is not received"
    return default_instance().describe()


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr or result.stdout).strip()[-2000:]


def _in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _greets(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.settimeout(5)
            greeted = sock.recv(4).startswith(b"220")
            sock.sendall(b"QUIT\r\n")
            return greeted
    except OSError:
        return False
