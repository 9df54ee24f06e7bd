"""Close the hand-off before Postfix stops: `python -m listkeeper.delivery.handoff_close SECONDS`.

Postfix's container runs this first when told to stop (postfix/entrypoint.sh):
the hand-off policy service (`HANDOFF_POLICY`, listkeeper/delivery/handoff.py)
then refuses every copy with a 451 for SECONDS, before marking it, so that
no smtpd is killed by the stop between finishing a copy's queue file and
answering 250 (the worker, seeing its connection break, would send that copy
again). 0 opens it again; the entrypoint does that when Postfix starts.

Plain Python, no Django: it must be quick when Docker's stop timeout runs.
"""

from __future__ import annotations

import os
import socket
import sys

# Not one of Postfix's requests: handoff.py answers it.
CLOSE_REQUEST = "listkeeper_close_handoff"


def close(address: tuple[str, int], seconds: float, timeout: float = 5.0) -> str:
    """Ask the policy service at `address` to refuse copies for `seconds`; its answer ("OK")."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(f"request={CLOSE_REQUEST}\nseconds={seconds:g}\n\n".encode())
        reply = sock.makefile("rb").readline().decode("utf-8", "replace").strip()
    return reply.removeprefix("action=")


def main(argv: list[str]) -> int:
    host, _, port = os.environ.get("HANDOFF_POLICY", "127.0.0.1:10031").rpartition(":")
    try:
        seconds = float(argv[0])
        answer = close((host, int(port)), seconds)
    except (IndexError, ValueError):
        print("usage: python -m listkeeper.delivery.handoff_close SECONDS", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"the hand-off policy at {host}:{port} did not answer: {exc}", file=sys.stderr)
        return 1
    if answer != "OK":
        print(f"the hand-off policy at {host}:{port} answered {answer!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
