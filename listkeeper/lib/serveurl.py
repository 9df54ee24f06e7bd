"""The URL a browser on this machine reaches a listening address at (no Django imports:
settings uses it)."""

from __future__ import annotations


def serve_url(host: str, port: int) -> str:
    """http://HOST:PORT, with 0.0.0.0 and :: (listen everywhere) as loopback addresses."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
