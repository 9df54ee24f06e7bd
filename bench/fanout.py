#!/usr/bin/env python3
"""Fan-out benchmark: one post to a big list through the real Postfix, against raw Postfix.

Run as root (Postfix's master needs it) from the repository root:

    .venv/bin/python bench/fanout.py                 # 10,000 members
    .venv/bin/python bench/fanout.py --large         # 100,000 members
    .venv/bin/python bench/fanout.py --database-url postgres://postgres@127.0.0.1/lk_bench
    .venv/bin/python bench/fanout.py --tls           # relay over STARTTLS + AUTH, like SES
    .venv/bin/python bench/fanout.py --workers 2 --database-url postgres://...
    .venv/bin/python bench/fanout.py --profile /tmp/prof   # the worker under pyinstrument

See bench/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DOMAIN = "lists.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--members", type=int, default=10_000)
    p.add_argument("--large", action="store_true", help="100,000 members")
    p.add_argument("--connections", type=int, default=4, help="smtp-source sessions (raw Postfix)")
    p.add_argument(
        "--worker-connections",
        type=int,
        default=0,
        help="WORKER_CONNECTIONS (default: the setting's default)",
    )
    p.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    p.add_argument("--paced-members", type=int, default=1000, help="list size of each paced run")
    p.add_argument("--rate", type=float, default=50.0, help="SES_MAX_SEND_RATE of the paced run")
    p.add_argument("--skip-paced", action="store_true")
    p.add_argument(
        "--tls",
        action="store_true",
        help="relay to a STARTTLS + AUTH sink (as SES), smtp_tls_connection_reuse on",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also fan out with this many workers (PostgreSQL), through Postfix and direct",
    )
    p.add_argument(
        "--direct-members",
        type=int,
        default=50_000,
        help="members of the lists that --workers fans out straight to the sink (at several "
        "thousand a second, 10,000 took under a second: the start of a fan-out weighed more "
        "than its steady rate)",
    )
    p.add_argument("--sink-procs", type=int, default=2, help="processes of the Python sink")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument(
        "--pin",
        action="store_true",
        help="Postfix on CPU 0, everything else (worker, lmtpd, smtp-source, the sink, "
        "this script, the bench database's PostgreSQL backends) on CPU 1: Postfix with a "
        "core of its own, as on a host of its own",
    )
    p.add_argument(
        "--profile",
        default="",
        metavar="DIR",
        help="run the 1-worker fan-out under pyinstrument (pip install pyinstrument); "
        "DIR gets the event loop's and the database thread's profiles",
    )
    args = p.parse_args()
    if args.large:
        args.members = 100_000
    return args


def configure(args: argparse.Namespace, tmp: Path) -> dict[str, str]:
    """Environment shared by this process and the lmtpd/worker children."""
    data = tmp / "data"
    data.mkdir()
    ports = {name: free_port() for name in ("smtp", "reinject", "lmtp", "sink", "handoff")}
    env = {
        "LISTKEEPER_DATA_DIR": str(data),
        "DATABASE_URL": args.database_url or f"sqlite:///{data / 'bench.sqlite3'}",
        "LISTKEEPER_DOMAIN": DOMAIN,
        "POSTFIX_HOSTNAME": f"mx.{DOMAIN}",
        "SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "SITE_URL": "https://lists.example.org",
        "SMTP_LISTEN": f"127.0.0.1:{ports['smtp']}",
        "REINJECT_HOST": f"127.0.0.1:{ports['reinject']}",
        "LMTP_LISTEN": f"127.0.0.1:{ports['lmtp']}",
        "HANDOFF_POLICY": f"127.0.0.1:{ports['handoff']}",
        "RELAY_HOST": f"127.0.0.1:{ports['sink']}",
        "RELAY_TLS": "none",
        "SES_USER": "",
        "SES_PASS": "",
        "SES_MAX_SEND_RATE": "0",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "listkeeper.settings",
    }
    if args.worker_connections:
        env["WORKER_CONNECTIONS"] = str(args.worker_connections)
    else:
        os.environ.pop("WORKER_CONNECTIONS", None)  # the setting's default
    os.environ.update(env)
    return env


def start_command(
    env: dict[str, str], log: Path, *args: str, profile: str = "", **extra: str
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "listkeeper.cli", *args]
    if profile:
        command = [sys.executable, __file__, "--profiled-worker", profile, *args]
    return subprocess.Popen(
        command,
        env={**os.environ, **env, **extra, "PYTHONPATH": str(ROOT)},
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def smtp_sink(port: int, messages: int) -> subprocess.Popen[bytes]:
    """Postfix's smtp-sink, exiting once it has received `messages` messages."""
    proc = subprocess.Popen(
        ["smtp-sink", "-u", "nobody", "-M", str(messages), f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_listening(port)
    return proc


def pin_postfix(master: int, cpu: int) -> int:
    """Move Postfix's master and its running daemons to `cpu`; later daemons inherit it."""
    moved = 0
    for d in os.listdir("/proc"):
        st = _stat(int(d)) if d.isdigit() else None
        if st is not None and (int(d) == master or st[1] == master):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(int(d), {cpu})
                moved += 1
    return moved


def load() -> str:
    """The load average, printed with every figure: the machine may be shared."""
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float, float] | None:
    """(command name, parent pid, own CPU s, reaped children's CPU s) from /proc/PID/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    f = raw[raw.rindex(")") + 2 :].split()
    # after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
    return name, int(f[1]), (int(f[11]) + int(f[12])) / CLK_TCK, (int(f[13]) + int(f[14])) / CLK_TCK


class CpuMeter:
    """CPU seconds each part used during one run: a measure the machine's load does not flatter.

    Postfix's daemons are the master's children; they come and go (cleanup
    serves 100 messages, then exits), so they are polled every 50 ms by pid,
    and what the ones that exited used after their last poll is taken from
    the master's reaped-children total: the Postfix sum is exact, its split
    by daemon nearly so. `pids` are other processes (worker, lmtpd, sink);
    `pg_database` adds the PostgreSQL backends connected to that database;
    with `pin_postgres` (a CPU) each one found is moved to that CPU (`--pin`:
    the database is not on Postfix's core, as when it runs on a host of its
    own; only this database's backends, which end with the run, not the
    server's shared processes).
    """

    def __init__(
        self,
        master: int | None,
        pids: dict[str, list[int]],
        pg_database: str = "",
        pin_postgres: int | None = None,
    ) -> None:
        self.master, self.pids, self.pg_database = master, pids, pg_database
        self.pin_postgres = pin_postgres
        self.pinned: set[int] = set()
        self.first: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.stopping = threading.Event()
        self.reaped0 = self._reaped()
        self._poll(first=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _reaped(self) -> float:
        st = _stat(self.master) if self.master else None
        return st[3] if st else 0.0

    def _postgres(self) -> list[int]:
        if not self.pg_database:
            return []
        found = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    cmd = Path(f"/proc/{d}/cmdline").read_bytes()
                except OSError:
                    continue
                if cmd.startswith(b"postgres: ") and f" {self.pg_database} ".encode() in cmd:
                    found.append(int(d))
        return found

    def _poll(self, first: bool = False) -> None:
        watched = {pid: label for label, ps in self.pids.items() for pid in ps}
        backends = self._postgres()
        watched.update({pid: "postgres" for pid in backends})
        if self.pin_postgres is not None:
            for pid in set(backends) - self.pinned:
                with contextlib.suppress(ProcessLookupError):
                    os.sched_setaffinity(pid, {self.pin_postgres})
                self.pinned.add(pid)
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            pid = int(d)
            st = _stat(pid)
            if st is None:
                continue
            name, ppid, cpu, _ = st
            if pid in watched:
                label = watched[pid]
            elif self.master and ppid == self.master:
                label = "postfix/" + name
            else:
                continue
            if first:
                self.first[pid] = cpu
            self.last[pid] = (label, cpu)

    def _run(self) -> None:
        while not self.stopping.wait(0.05):
            self._poll()

    def stop(self) -> dict[str, float]:
        """CPU seconds per part; "postfix" is the exact total of Postfix's daemons."""
        self.stopping.set()
        self.thread.join()
        self._poll()
        used: dict[str, float] = {}
        for pid, (label, cpu) in self.last.items():
            used[label] = used.get(label, 0.0) + cpu - self.first.get(pid, 0.0)
        polled = sum(v for k, v in used.items() if k.startswith("postfix/"))
        alive = sum(
            cpu - self.first.get(pid, 0.0)
            for pid, (label, cpu) in self.last.items()
            if label.startswith("postfix/") and _stat(pid) is not None
        )
        exited_polled = polled - alive
        reaped = self._reaped() - self.reaped0
        used["postfix"] = alive + max(reaped, exited_polled)
        return used


def cpu_without_sink(used: dict[str, float]) -> float:
    """Every measured part but the sink (the same work in both runs; the Python sink
    is measured apart): Postfix, and smtp-source or the worker, lmtpd and PostgreSQL."""
    return sum(v for k, v in used.items() if k != "sink" and not k.startswith("postfix/"))


def cpu_report(used: dict[str, float], copies: int) -> str:
    """CPU seconds per 1,000 copies, by part."""
    per = 1000 / copies
    parts = [f"postfix {used.get('postfix', 0) * per:.3f}"]
    daemons = sorted(
        ((k.split("/", 1)[1], v) for k, v in used.items() if k.startswith("postfix/") and v > 0),
        key=lambda kv: -kv[1],
    )
    parts.append("(" + ", ".join(f"{k} {v * per:.3f}" for k, v in daemons) + ")")
    for k in sorted(used):
        if not k.startswith("postfix") and used[k] > 0:
            parts.append(f"{k} {used[k] * per:.3f}")
    return "CPU s per 1,000 copies: " + " ".join(parts)


class SmtpSink:
    """Postfix's smtp-sink (plain SMTP, C, fast), with the interface of bench/sink.py's Sink."""

    def __init__(self, port: int, messages: int) -> None:
        self.proc = smtp_sink(port, messages)

    def wait(self, n: int, timeout: float, alive: object = None) -> bool:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline or (alive is not None and not alive()):  # type: ignore[operator]
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> tuple[int | None, float | None]:
        if self.proc.poll() is None:
            self.proc.kill()
        return None, None


def lmtp_post(port: int, to: str, message: bytes) -> float:
    """Deliver the post as Postfix would; seconds from the end of DATA to the 250."""
    from tests.support.lmtp import LMTPClient

    client = LMTPClient("127.0.0.1", port)
    try:
        assert client.command("MAIL FROM:<poster@example.com>").startswith("250")
        assert client.command(f"RCPT TO:<{to}>").startswith("250")
        assert client.command("DATA").startswith("354")
        started = time.perf_counter()
        client.sock.sendall(message + b".\r\n")
        reply = client.reply()
        took = time.perf_counter() - started
        assert reply.startswith("250"), reply
        client.close()
        return took
    except AssertionError as exc:
        raise SystemExit(f"the LMTP server did not accept the post: {exc}") from None


def make_post(subject: str) -> bytes:
    return (
        f"From: Poster <poster@example.com>\r\nTo: bench@{DOMAIN}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{time.time_ns()}@example.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode() + b"A line of an ordinary post, long enough to look like one.\r\n" * 12


def worst_window(times: list[float], seconds: float = 1.0) -> int:
    """The most events in any half-open window [t, t + seconds)."""
    worst, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] >= seconds:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


class TimingSink:
    """A small SMTP sink that notes when each message arrives (for the paced run).

    `at_mail`: note the moment the client began the transaction (its MAIL
    command), which is the moment the worker's pacer let it go; otherwise the
    moment the message was accepted, which is what SES counts.
    """

    def __init__(self, port: int, at_mail: bool = False) -> None:
        from aiosmtpd.smtp import SMTP

        self.times: list[float] = []
        handler = self

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
                envelope.mail_from, envelope.mail_options = address, options
                envelope.started = time.monotonic()
                return "250 2.1.0 Ok"

            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                moment = envelope.started if at_mail else time.monotonic()
                handler.times.extend([moment] * len(envelope.rcpt_tos))
                return "250 2.0.0 Ok"

        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                self.loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", port)
            )
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


def profiled_worker(directory: str, args: list[str]) -> None:
    """`listkeeper worker` with one pyinstrument profiler in the event loop's thread
    and one in the database thread (pyinstrument samples only the thread it starts in)."""
    from concurrent.futures import ThreadPoolExecutor

    import django
    from pyinstrument import Profiler

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "listkeeper.settings")
    django.setup()
    from listkeeper.cli import main as cli_main
    from listkeeper.delivery import worker

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    db_profiler = Profiler(interval=0.0005)

    class ProfiledExecutor(ThreadPoolExecutor):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.submit(db_profiler.start).result()

        def shutdown(self, wait: bool = True, **kw: Any) -> None:
            self.submit(db_profiler.stop).result()
            (out / "worker-db-thread.txt").write_text(db_profiler.output_text(show_all=False))
            super().shutdown(wait, **kw)

    worker.ThreadPoolExecutor = ProfiledExecutor  # type: ignore[misc]
    loop_profiler = Profiler(interval=0.0005, async_mode="disabled")
    loop_profiler.start()
    sys.argv = ["listkeeper", *args]
    try:
        cli_main()
    finally:
        loop_profiler.stop()
        (out / "worker-event-loop.txt").write_text(loop_profiler.output_text(show_all=False))


def main() -> None:
    if sys.argv[1:2] == ["--profiled-worker"]:
        profiled_worker(sys.argv[2], sys.argv[3:])
        return
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: Postfix's master must start as root")
    for tool in ("postfix", "smtp-sink", "smtp-source"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: apt-get install postfix")
    if args.workers > 1 and not args.database_url.startswith("postgres"):
        raise SystemExit("--workers needs PostgreSQL (--database-url postgres://...)")
    if args.pin:
        if len(os.sched_getaffinity(0)) < 2:
            raise SystemExit("--pin needs two CPUs")
        # Every child (Postfix's master too, until pin_postfix moves it) inherits this.
        os.sched_setaffinity(0, {1})
    tmp = Path(tempfile.mkdtemp(prefix="listkeeper-bench-"))
    tmp.chmod(0o755)
    env = configure(args, tmp)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from sink import PASSWORD, USER, Sink

    from listkeeper.delivery import personalise
    from listkeeper.delivery.models import Delivery, WorkerHeartbeat
    from listkeeper.lib.addresses import parse
    from listkeeper.lists import services
    from listkeeper.postfix.instance import PostfixInstance
    from listkeeper.postfix.render import Options
    from tests.sesstub import TestCA

    call_command("migrate", verbosity=0)
    n = args.members
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[1]
    print(f"Setting up a list of {n:,} members in {engine} ...", flush=True)
    ml = services.create_list(
        "bench", DOMAIN, actor="bench", posting_policy="open", display_name="Bench"
    )
    services.bulk_subscribe(ml, (parse(f"member{i}@example.net") for i in range(n)), actor="bench")

    sink_port = settings.RELAY_HOST[1]
    tls_files: tuple[str, str] | None = None
    options = Options()
    if args.tls:
        ca = TestCA(tmp / "ca")
        ca.ca_file.parent.chmod(0o755)
        ca.ca_file.chmod(0o644)
        tls_files = (str(ca.cert_file), str(ca.key_file))
        options = Options(
            relay=("localhost", sink_port),
            relay_tls="secure",
            relay_ca_file=str(ca.ca_file),
            ses_user=USER,
            ses_pass=PASSWORD,
        )
    python_sink = args.tls or args.workers > 1
    sink_name = f"TLS+AUTH sink x{args.sink_procs}" if args.tls else "smtp-sink"
    if python_sink and not args.tls:
        sink_name = f"sink x{args.sink_procs}"

    def new_sink(port: int = sink_port, count: int = n, tls: bool = args.tls) -> Any:
        if python_sink or port != sink_port:
            return Sink(port, args.sink_procs, tmp, tls=tls_files if tls else None)
        return SmtpSink(port, count)

    def report_sink(sink: Any) -> str:
        repeats, cpu = sink.stop()
        if repeats is None:
            return ""
        return f"; {repeats} copies twice at the sink, sink CPU {cpu:.1f} s"

    postfix = PostfixInstance(tmp / "postfix", options)
    lmtpd = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        postfix.start()
        if args.pin:
            master = postfix.master_pid()
            assert master is not None
            print(
                f"pinned: Postfix ({pin_postfix(master, 0)} processes) on CPU 0, the rest on CPU 1"
                + (
                    " (and the bench database's PostgreSQL backends)"
                    if args.database_url.startswith("postgres")
                    else ""
                ),
                flush=True,
            )
        lmtpd = start_command(env, tmp / "lmtpd.log", "lmtpd")
        wait_listening(settings.LMTP_LISTEN[1])
        reinject = settings.REINJECT_HOST
        print(
            f"relay leg: {sink_name}; smtp-source sessions {args.connections}, "
            f"WORKER_CONNECTIONS {os.environ.get('WORKER_CONNECTIONS') or 'default'}; {load()}",
            flush=True,
        )

        # 1. Raw Postfix: the same number of single-recipient messages, the same
        # size as one personalised copy, over the same number of persistent connections.
        sample = personalise.copy_for(
            personalise.prepare(make_post("sample"), ml, personalised=True), 1
        )
        sample_file = tmp / "sample.eml"
        sample_file.write_bytes(sample.replace(b"\r\n", b"\n"))
        sink = new_sink()
        pg_database = args.database_url.rsplit("/", 1)[1].split("?")[0] if args.database_url else ""

        def sink_pids(sink: Any) -> list[int]:
            return [sink.proc.pid] if isinstance(sink, SmtpSink) else []

        meter = CpuMeter(postfix.master_pid(), {"sink": sink_pids(sink)})
        started = time.monotonic()
        source = subprocess.Popen(
            [
                "smtp-source",
                "-d",
                "-s",
                str(args.connections),
                "-m",
                str(n),
                "-r",
                "1",
                "-N",
                "-f",
                f"bench-bounces@{DOMAIN}",
                "-t",
                "member@example.net",
                "-F",
                str(sample_file),
                f"{reinject[0]}:{reinject[1]}",
            ],
        )
        meter.pids["smtp-source"] = [source.pid]
        if source.wait() != 0:
            raise SystemExit(f"smtp-source failed; see {tmp}")
        if not sink.wait(n, timeout=n / 10 + 120):
            raise SystemExit(f"raw Postfix: the sink got only part of {n}; see {tmp}")
        raw_rate = n / (time.monotonic() - started)
        raw_cpu = meter.stop()
        sink.stop()
        print(
            f"raw Postfix (smtp-source -> Postfix -> {sink_name}): {raw_rate:8.1f} recipients/s  ({load()})",
            flush=True,
        )
        print(f"  {cpu_report(raw_cpu, n)}", flush=True)

        # 2. Listkeeper: LMTP accept, ledger, worker, Postfix, the same sink.
        cpu_runs: dict[str, dict[str, float]] = {}

        def fan_out(
            mailing_list: Any,
            count: int,
            label: str,
            extra: dict[str, str],
            sink: Any,
            profile: str = "",
        ) -> float:
            nonlocal workers
            members = mailing_list.subscriptions.count()
            workers = [
                start_command(
                    env,
                    tmp / f"worker-{label}-{w}.log",
                    "worker",
                    "--name",
                    f"{label}-{w}",
                    profile=profile,
                    **extra,
                )
                for w in range(count)
            ]
            # Started (imports, Django's checks: seconds on a loaded machine),
            # heartbeats sent, each knows the others; only then the post, so
            # that neither the rate nor the CPU figures include the start.
            names = [f"{label}-{w}" for w in range(count)]
            deadline = time.monotonic() + 120
            while WorkerHeartbeat.objects.filter(name__in=names).count() < count:
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    raise SystemExit(f"{label}: a worker did not start; see {tmp}")
                time.sleep(0.1)
            time.sleep(1.5)
            idle_rss = [rss_kib(w.pid, "VmRSS") for w in workers]
            meter = CpuMeter(
                postfix.master_pid(),
                {
                    "worker": [w.pid for w in workers],
                    "lmtpd": [lmtpd.pid] if lmtpd else [],
                    "sink": sink_pids(sink),
                },
                pg_database,
                pin_postgres=1 if args.pin else None,
            )
            accept = lmtp_post(settings.LMTP_LISTEN[1], mailing_list.address, make_post(label))
            started = time.monotonic()
            if not sink.wait(
                members,
                timeout=members / 10 + 300,
                alive=lambda: all(w.poll() is None for w in workers),
            ):
                raise SystemExit(f"{label}: a worker died or the sink got too little; see {tmp}")
            elapsed = time.monotonic() - started
            used = meter.stop()
            peak = [rss_kib(w.pid, "VmHWM") for w in workers]
            for w in workers:
                stop(w)
            workers = []
            rate = members / elapsed
            print(
                f"  {label:32}: {rate:8.1f} recipients/s, LMTP accept {accept * 1000:.0f} ms, "
                f"worker RSS idle/peak {max(idle_rss) / 1024:.0f}/{max(peak) / 1024:.0f} MiB"
                f"{report_sink(sink)}  ({load()})",
                flush=True,
            )
            print(f"    {cpu_report(used, members)}", flush=True)
            cpu_runs[label] = used
            return rate

        ours = fan_out(ml, 1, "Listkeeper, 1 worker", {}, new_sink(), profile=args.profile)
        if args.profile:
            print(f"  (under pyinstrument: slower than unprofiled; profiles in {args.profile})")
        delivery = Delivery.objects.filter(post__mailing_list=ml).latest("id")
        deadline = time.monotonic() + 10  # the last results are written within RECORD_EVERY
        while delivery.state != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
            delivery.refresh_from_db()
        print(
            f"ratio Listkeeper / raw Postfix:     {ours / raw_rate:8.2f}  (target >= 0.9); "
            f"ledger {delivery.handed_off}/{delivery.total} handed off, {delivery.failed} failed",
            flush=True,
        )
        ours_cpu, raw_total = cpu_runs["Listkeeper, 1 worker"], cpu_without_sink(raw_cpu)
        print(
            f"CPU s per 1,000 copies without the sink: raw {raw_total * 1000 / n:.3f}, "
            f"Listkeeper {cpu_without_sink(ours_cpu) * 1000 / n:.3f}; raw / Listkeeper "
            f"{raw_total / cpu_without_sink(ours_cpu):.2f} (the ratio where both are CPU-bound)",
            flush=True,
        )

        # 3. Several workers: through Postfix, and straight to a sink (Postfix out
        # of the path, so the workers' own scaling shows).
        if args.workers > 1:

            def another_list(name: str, members: int = n) -> Any:
                other = services.create_list(name, DOMAIN, actor="bench", posting_policy="open")
                services.bulk_subscribe(
                    other, (parse(f"{name}{i}@example.net") for i in range(members)), actor="bench"
                )
                return other

            many = fan_out(
                another_list("many"),
                args.workers,
                f"Listkeeper, {args.workers} workers",
                {},
                new_sink(),
            )
            print(
                f"ratio {args.workers} workers / 1 through Postfix: {many / ours:.2f}", flush=True
            )
            direct_port = free_port()
            direct = {"REINJECT_HOST": f"127.0.0.1:{direct_port}"}
            one = fan_out(
                another_list("direct1", args.direct_members),
                1,
                "1 worker -> sink, no Postfix",
                direct,
                new_sink(direct_port, tls=False),
            )
            several = fan_out(
                another_list("directn", args.direct_members),
                args.workers,
                f"{args.workers} workers -> sink, no Postfix",
                direct,
                new_sink(direct_port, tls=False),
            )
            print(
                f"ratio {args.workers} workers / 1 without Postfix: {several / one:.2f} "
                f"(target >= 1.6 for 2)",
                flush=True,
            )

        # 4. Paced at SES_MAX_SEND_RATE: measured once where the worker hands
        # copies over (a timing sink in place of Postfix's reinjection
        # listener) and once where Postfix hands them to the relay (what SES sees).
        if not args.skip_paced and not args.tls:
            m = args.paced_members
            for label, through_postfix in (("worker hand-off", False), ("through Postfix", True)):
                name = "paced-postfix" if through_postfix else "paced-direct"
                paced = services.create_list(name, DOMAIN, actor="bench", posting_policy="open")
                services.bulk_subscribe(
                    paced, (parse(f"{name}{i}@example.net") for i in range(m)), actor="bench"
                )
                timing_port = sink_port if through_postfix else free_port()
                timing = TimingSink(timing_port, at_mail=not through_postfix)
                worker = start_command(
                    env,
                    tmp / f"worker-{name}.log",
                    "worker",
                    SES_MAX_SEND_RATE=f"{args.rate:g}",
                    REINJECT_HOST=env["REINJECT_HOST"]
                    if through_postfix
                    else f"127.0.0.1:{timing_port}",
                )
                workers = [worker]
                time.sleep(1.0)
                lmtp_post(settings.LMTP_LISTEN[1], paced.address, make_post("Paced post"))
                deadline = time.monotonic() + m / args.rate * 2 + 60
                while len(timing.times) < m and time.monotonic() < deadline:
                    time.sleep(0.1)
                stop(worker)
                timing.stop()
                times = sorted(timing.times)
                if len(times) < 2:
                    print(f"paced, {label}: too few copies ({len(times)}); see {tmp}")
                    continue
                rate = (len(times) - 1) / (times[-1] - times[0])
                print(
                    f"paced at {args.rate:g}/s, {label:15}: {len(times)} copies, {rate:6.2f}/s "
                    f"({(rate / args.rate - 1) * 100:+.1f}%), busiest one-second window: "
                    f"{worst_window(times)}  ({load()})",
                    flush=True,
                )
    finally:
        for proc in [*workers, lmtpd]:
            if proc is not None:
                stop(proc)
        postfix.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
