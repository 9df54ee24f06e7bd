"""Render a complete Postfix configuration from the settings.

One code path for every Postfix we run: the private instance of `serve`, the
test instances and the container's (`listkeeper postfix render DIR`).
docs/postfix.md explains the design.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.template import Context, Engine

from listkeeper.delivery.smtp import DIRECT_HELO

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Headroom for what personalisation adds (headers, footer) to a post that was
# accepted at the size limit; cleanup enforces message_size_limit for every
# message, including the worker's copies.
COPY_HEADROOM = 1024 * 1024
SASL_MAP = "sasl_passwd"
HELO_MAP = "reinject_helo"


class RenderError(ValueError):
    """The settings cannot be turned into a Postfix configuration; str() says why."""


@dataclass
class Options:
    """What to render; every field defaults to the current settings."""

    queue_directory: Path = Path("/var/spool/postfix")
    data_directory: Path = Path("/var/lib/postfix")
    maillog_file: str = "/dev/stdout"
    smtp_listen: tuple[str, int] = field(default_factory=lambda: settings.SMTP_LISTEN)
    reinject_listen: tuple[str, int] = field(default_factory=lambda: settings.REINJECT_HOST)
    lmtp: tuple[str, int] = field(default_factory=lambda: settings.LMTP_LISTEN)
    relay: tuple[str, int] = field(default_factory=lambda: settings.RELAY_HOST)
    relay_tls: str = field(default_factory=lambda: settings.RELAY_TLS)
    relay_ca_file: str = field(default_factory=lambda: settings.RELAY_TLS_CA_FILE)
    ses_user: str = field(default_factory=lambda: settings.SES_USER)
    ses_pass: str = field(default_factory=lambda: settings.SES_PASS)
    relay_concurrency: int = field(default_factory=lambda: settings.RELAY_CONCURRENCY)
    handoff_policy: tuple[str, int] = field(default_factory=lambda: settings.HANDOFF_POLICY)
    # Tell the hand-off policy service when SES has answered each copy (its
    # relay gate); only where the sending is paced.
    relay_status_filter: bool = field(default_factory=lambda: settings.SES_MAX_SEND_RATE > 0)


def host_lookup(host: str) -> str:
    """Postfix's `*_host_lookup` for a next hop: `localhost` and its subdomains
    from /etc/hosts only (RFC 6761 keeps them out of DNS). Asking DNS first
    costs a round trip per connection, and a resolver that drops one of a
    burst of queries holds the connection for its 5 s timeout (bench/README.md,
    session 10: a TLS relay to `localhost` at 11 copies a second). Every other
    name: DNS, then /etc/hosts; an address literal is looked up by neither."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "native"
    return "dns, native"


def database_context() -> dict[str, Any]:
    """How Postfix reaches the database Django uses (including a test database)."""
    db = connections["default"].settings_dict
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        path = str(db["NAME"])
        if path == ":memory:" or path.startswith("file:"):
            raise RenderError(
                f"Postfix cannot read the SQLite database {path!r}; use a file (DATABASE_URL)"
            )
        return {"engine": "sqlite", "db": {"path": str(Path(path).resolve())}}
    if engine in ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"):
        host = db.get("HOST") or "/var/run/postgresql"
        port = db.get("PORT") or "5432"
        hosts = f"unix:{host}" if host.startswith("/") else f"inet:{host}:{port}"
        values = {
            "hosts": hosts,
            "user": db.get("USER") or "",
            "password": db.get("PASSWORD") or "",
            "name": db["NAME"],
        }
        for key, value in values.items():
            if any(c in str(value) for c in "\r\n"):
                raise RenderError(
                    f"the database {key} contains a line break, which Postfix cannot read"
                )
        return {"engine": "pgsql", "db": values}
    raise RenderError(
        f"Postfix has no lookup table for the database engine {engine}; use SQLite or PostgreSQL"
    )


def context(config_directory: Path, options: Options) -> dict[str, Any]:
    ctx = database_context()
    sasl = bool(options.ses_user)
    if options.relay_tls == "secure" and not Path(options.relay_ca_file).is_file():
        raise RenderError(
            f"RELAY_TLS_CA_FILE={options.relay_ca_file!r} does not exist; Postfix needs it to check "
            "the relay's certificate (install ca-certificates or point it at a CA bundle)"
        )
    maillog_prefix = (
        options.maillog_file
        if options.maillog_file.startswith("/dev/")
        else str(Path(options.maillog_file).parent)
    )
    ctx.update(
        config_directory=config_directory,
        queue_directory=options.queue_directory,
        data_directory=options.data_directory,
        maillog_file=options.maillog_file,
        maillog_prefix=maillog_prefix,
        hostname=settings.POSTFIX_HOSTNAME,
        domain=settings.LISTKEEPER_DOMAIN,
        # proxy: lets a privileged proxymap do the lookups (docs/postfix.md).
        map_prefix=f"proxy:{ctx['engine']}:",
        lmtp_host=options.lmtp[0],
        lmtp_port=options.lmtp[1],
        smtp_host=options.smtp_listen[0],
        smtp_port=options.smtp_listen[1],
        reinject_host=options.reinject_listen[0],
        reinject_port=options.reinject_listen[1],
        mynetworks=" ".join(settings.REINJECT_NETWORKS),
        message_size_limit=settings.MAX_MESSAGE_SIZE,
        queue_size_limit=settings.MAX_MESSAGE_SIZE + COPY_HEADROOM,
        relay_host=options.relay[0],
        relay_port=options.relay[1],
        relay_host_lookup=host_lookup(options.relay[0]),
        lmtp_host_lookup=host_lookup(options.lmtp[0]),
        relay_tls=options.relay_tls,
        relay_ca_file=options.relay_ca_file,
        relay_concurrency=options.relay_concurrency,
        handoff_host=options.handoff_policy[0],
        handoff_port=options.handoff_policy[1],
        relay_status_filter=options.relay_status_filter,
        sasl=sasl,
    )
    return ctx


def render(config_directory: Path | str, options: Options | None = None) -> list[Path]:
    """Write main.cf, master.cf, the lookup tables and the SASL map into the directory.

    Returns the files written. The SASL map and a lookup table holding a
    database password are written with mode 0600 (Postfix reads them as root).
    """
    options = options or Options()
    config_directory = Path(config_directory).resolve()
    config_directory.mkdir(parents=True, exist_ok=True)
    ctx = context(config_directory, options)
    engine = Engine(dirs=[str(TEMPLATES)], autoescape=False)
    secret_tables = ctx["engine"] == "pgsql" and bool(ctx["db"]["password"])
    written = []
    for name in (
        "main.cf",
        "master.cf",
        "relay_domains.cf",
        "relay_recipients.cf",
        "handoff_senders.regexp",
    ):
        text = engine.get_template(f"postfix/{name}").render(Context(ctx))
        mode = 0o600 if secret_tables and name.startswith("relay_") else 0o644
        written.append(_write(config_directory / name, text, mode))
    written.append(_write(config_directory / HELO_MAP, reinject_helo_map(options), 0o644))
    sasl_path = config_directory / SASL_MAP
    if ctx["sasl"]:
        written.append(_write(sasl_path, sasl_map(options), 0o600))
    elif sasl_path.exists():
        sasl_path.unlink()
    return written


def reinject_helo_map(options: Options) -> str:
    """The texthash map that sends the worker's direct sessions to the relay unresolved.

    FILTER makes the queue manager take the transport and next hop as given
    instead of asking trivial-rewrite (and through it proxymap and the
    database) about each recipient; `ses:[host]:port` is exactly what
    `default_transport` and `relayhost` resolve an outside address to.
    """
    host, port = options.relay
    return f"{DIRECT_HELO} FILTER ses:[{host}]:{port}\n"


def sasl_map(options: Options) -> str:
    """The texthash map of the relay's credentials (texthash needs no postmap)."""
    for name, value in (("SES_USER", options.ses_user), ("SES_PASS", options.ses_pass)):
        if any(c.isspace() for c in value):
            raise RenderError(f"{name} contains whitespace, which cannot be a valid SES credential")
    host, port = options.relay
    return f"[{host}]:{port} {options.ses_user}:{options.ses_pass}\n"


def _write(path: Path, text: str, mode: int) -> Path:
    """Write a file so that it never exists with a looser mode than `mode`."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), mode)
        fh.write(text)
    # Postfix waits until a file is two seconds old before reading it, in
    # case it is still being written; ours appear whole (rename), so date
    # them back and save every start and test that wait.
    past = time.time() - 5
    os.utime(tmp, (past, past))
    os.replace(tmp, path)
    return path
