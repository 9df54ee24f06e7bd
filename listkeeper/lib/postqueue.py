"""Reading Postfix's queue with `postqueue -j`, for health checks and metrics.

No Django at import time: the Postfix container's healthcheck runs this module directly
(`python3 -m listkeeper.lib.postqueue --write FILE`) and leaves the result in a
small JSON status file on a volume the web container reads, because the web
container cannot run `postqueue` against another container's queue.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

QUEUE_NAMES = ("incoming", "active", "deferred", "hold", "maildrop")


@dataclass
class QueueStatus:
    ok: bool
    # Messages per queue (incoming, active, deferred, hold, maildrop).
    messages: dict[str, int] = field(default_factory=dict)
    recipients: int = 0
    error: str = ""
    checked: float = field(default_factory=time.time)

    @property
    def size(self) -> int:
        return sum(self.messages.values())


def parse(output: str) -> QueueStatus:
    """Parse `postqueue -j` output: one JSON object per queued message."""
    messages: Counter[str] = Counter({name: 0 for name in QUEUE_NAMES})
    recipients = 0
    for number, line in enumerate(output.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            return QueueStatus(ok=False, error=f"line {number} of postqueue -j is not JSON")
        messages[str(item.get("queue_name", "unknown"))] += 1
        recipients += len(item.get("recipients") or ())
    return QueueStatus(ok=True, messages=dict(messages), recipients=recipients)


def run(command: str, timeout: float = 15.0) -> QueueStatus:
    """Run COMMAND (e.g. `postqueue -c /etc/postfix -j`) and parse what it prints."""
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        return QueueStatus(ok=False, error=f"{command.split()[0]!r} is not installed")
    except subprocess.TimeoutExpired:
        return QueueStatus(ok=False, error=f"{command!r} did not answer within {timeout:.0f}s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return QueueStatus(ok=False, error=last[:300])
    return parse(done.stdout)


def write_status(path: str | os.PathLike[str], status: QueueStatus) -> None:
    """Replace the status file atomically, so a reader never sees half of it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".postqueue-")
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(status), fh)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def read_status(path: str | os.PathLike[str], max_age: float) -> QueueStatus:
    """The status a healthcheck left; stale or missing counts as unreadable."""
    try:
        data = json.loads(Path(path).read_text())
        status = QueueStatus(
            ok=bool(data["ok"]),
            messages={str(k): int(v) for k, v in data.get("messages", {}).items()},
            recipients=int(data.get("recipients", 0)),
            error=str(data.get("error", "")),
            checked=float(data["checked"]),
        )
    except FileNotFoundError:
        return QueueStatus(ok=False, error=f"{path} does not exist yet (Postfix not checked)")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return QueueStatus(ok=False, error=f"{path} cannot be read: {exc}")
    age = time.time() - status.checked
    if age > max_age:
        return QueueStatus(
            ok=False,
            messages=status.messages,
            error=f"the last queue check is {age:.0f}s old (more than {max_age:.0f}s)",
            checked=status.checked,
        )
    return status


# How old the Postfix container's status file may be before the queue counts as
# unreadable: a few of its 30-second healthcheck intervals.
STATUS_FILE_MAX_AGE = 180.0


def queue_status() -> QueueStatus | None:
    """Postfix's queue as the settings say to read it, or None when nothing is configured.

    POSTQUEUE_COMMAND runs postqueue; POSTFIX_QUEUE_STATUS_FILE reads what the
    Postfix container's healthcheck left; otherwise `listkeeper serve`'s
    private Postfix under DATA_DIR, when it runs. Django is imported here, not
    at the top, so the Postfix container can run this module without it.
    """
    from django.conf import settings

    from listkeeper.postfix.instance import default_instance

    if settings.POSTQUEUE_COMMAND:
        return run(settings.POSTQUEUE_COMMAND)
    if settings.POSTFIX_QUEUE_STATUS_FILE:
        return read_status(settings.POSTFIX_QUEUE_STATUS_FILE, STATUS_FILE_MAX_AGE)
    instance = default_instance()
    if instance.is_running():
        return run(f"postqueue -c {shlex.quote(str(instance.config_dir))} -j")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that Postfix's queue is readable.")
    parser.add_argument("--command", default=os.environ.get("POSTQUEUE_COMMAND", "postqueue -j"))
    parser.add_argument("--write", metavar="FILE", help="also leave the result in FILE as JSON")
    args = parser.parse_args(argv)
    status = run(args.command)
    if args.write:
        write_status(args.write, status)
    if status.ok:
        print(f"postfix queue: {status.size} messages, {status.recipients} recipients")
        return 0
    print(f"postfix queue unreadable: {status.error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
