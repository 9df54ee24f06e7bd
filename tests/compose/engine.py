"""A Docker engine, the images and compose stacks for the `compose` tests.

No image registry is reachable where the tests run, so everything is made here:
- Debian's `docker.io` engine: the one that answers (DOCKER_HOST or the default
  socket), else a private `dockerd`, stopped at the end, whose images and build
  cache persist in /var/cache/listkeeper-tests/dockerd/ (held with a lock: a
  second run at the same time gets a throwaway data directory instead), so an
  unchanged image is not built again on the next run;
- `debian:bookworm-slim`, when the engine lacks it: `debootstrap --variant=minbase
  bookworm` from the mirror apt uses, trimmed as the real slim image is, with the
  host's extra CA certificates so pip inside a build trusts what the host
  trusts; cached as a tarball in /var/cache/listkeeper-tests/;
- the product images (docker/Dockerfile, postfix/Dockerfile) and a small
  PostgreSQL stand-in (tests/compose/postgres/), built once per run (from the
  layer cache where their inputs did not change).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# Debian's client: /usr/local/bin/docker may be another program of that name.
DOCKER = next(
    (p for p in ("/usr/bin/docker", shutil.which("docker")) if p and os.access(p, os.X_OK)), None
)
DOCKERD = next((p for p in ("/usr/sbin/dockerd", shutil.which("dockerd")) if p), None)
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"
CACHE = Path(os.environ.get("LISTKEEPER_TEST_CACHE", "/var/cache/listkeeper-tests"))
# The tag compose.yaml runs (LISTKEEPER_VERSION), kept apart from a developer's own.
TAG = "compose-test"
APP_IMAGE = f"listkeeper-app:{TAG}"
POSTFIX_IMAGE = f"listkeeper-postfix:{TAG}"
POSTGRES_IMAGE = f"listkeeper-test-postgres:{TAG}"


class Unavailable(Exception):
    """No engine can be had here (the tests skip, or fail when required)."""


def run(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 600, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kw
    )


@dataclass
class Engine:
    host: str  # DOCKER_HOST
    own: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    data_root: Path | None = None  # the private dockerd's; kept when it is the cache
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        # Only these: compose fills ${NAME} in compose.yaml from its own
        # environment first, and the test process's (DNS_NAMESERVERS of the
        # suite's DNS server, DATABASE_URL, ...) must not reach the containers.
        keep = ("PATH", "HOME", "LANG", "TMPDIR")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env["DOCKER_HOST"] = self.host
        return env

    def docker(
        self, *args: str, timeout: float = 600, check: bool = True, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        assert DOCKER is not None
        result = run([DOCKER, *args], env=self.env, timeout=timeout, **kw)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stderr[-4000:]}")
        return result

    def has_image(self, name: str) -> bool:
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def image_size(self, name: str) -> int:
        return int(self.docker("image", "inspect", "--format", "{{.Size}}", name).stdout)


def answers(host: str) -> bool:
    if DOCKER is None:
        return False
    env = {**os.environ, "DOCKER_HOST": host}
    try:
        return (
            run(
                [DOCKER, "version", "--format", "{{.Server.Version}}"], env=env, timeout=20
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


@contextmanager
def engine() -> Iterator[Engine]:
    """The engine that answers, or a private dockerd for the duration."""
    if DOCKER is None:
        raise Unavailable("no docker client (apt-get install docker.io)")
    for host in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"):
        if host and answers(host):
            yield Engine(host)
            return
    if DOCKERD is None or not os.access(DOCKERD, os.X_OK):
        raise Unavailable("no Docker engine answers and there is no dockerd to start")
    if os.geteuid() != 0:
        raise Unavailable("no Docker engine answers, and starting dockerd needs root")
    workdir = Path(tempfile.mkdtemp(prefix="lk-dockerd-"))
    host = f"unix://{workdir}/docker.sock"
    lock = persistent_data_root()
    data_root = CACHE / "dockerd" if lock is not None else workdir / "data"
    log = open(workdir / "dockerd.log", "wb")
    proc = subprocess.Popen(
        [
            DOCKERD,
            "--data-root", str(data_root),
            "--exec-root", str(workdir / "exec"),
            "--pidfile", str(workdir / "dockerd.pid"),
            "--host", host,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    own = Engine(host, own=proc, workdir=workdir, data_root=data_root)
    try:
        deadline = time.monotonic() + 60
        while not answers(host):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(
                    "dockerd did not start:\n" + (workdir / "dockerd.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        # What a run that was killed left behind: its containers, networks, volumes.
        remove_leftovers(own)
        yield own
    finally:
        stop_dockerd(own)
        log.close()
        if lock is not None:
            lock.close()


def persistent_data_root() -> Any:
    """The lock on the cached data directory, or None when another run holds it.

    Two dockerds must never share a data root; the run that finds it taken
    works in a temporary one (and builds its images from scratch).
    """
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        lock = open(CACHE / "dockerd.lock", "w")
    except OSError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    return lock


def remove_leftovers(engine: Engine) -> None:
    ids = engine.docker("ps", "-aq", check=False, timeout=60).stdout.split()
    if ids:
        engine.docker("rm", "-f", "-v", *ids, check=False, timeout=300)
    engine.docker("network", "prune", "-f", check=False, timeout=120)
    engine.docker("volume", "prune", "-f", check=False, timeout=120)


def stop_dockerd(engine: Engine) -> None:
    proc = engine.own
    if proc is None:
        return
    # Containers first, so their mounts and network namespaces go with them.
    remove_leftovers(engine)
    if engine.data_root is not None and engine.workdir not in engine.data_root.parents:
        # Untagged images include the build stages of the multi-stage
        # Dockerfiles, which are the cache of their pip layers: pruning them
        # all cost 2-6 min of rebuilding on the next run. Only those a week
        # old go (images a rebuild replaced, stages nobody built since), so
        # the cache does not grow without end.
        engine.docker("image", "prune", "-f", "--filter", "until=168h", check=False, timeout=300)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if engine.workdir is not None:
        # overlay mounts are gone once dockerd stopped; what is left is plain files.
        for root in {engine.workdir / "data", engine.data_root}:
            if root is not None:
                subprocess.run(["umount", "-R", str(root)], capture_output=True)
        shutil.rmtree(engine.workdir, ignore_errors=True)


# --- debian:bookworm-slim without a registry ---------------------------------

SLIM_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


def debian_mirror() -> str:
    """The Debian mirror apt uses here (deb822 .sources or one-line .list entries)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*")) + [Path("/etc/apt/sources.list")]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.M))
            if (
                "bookworm" in fields.get("Suites", "").split()
                and "main" in fields.get("Components", "").split()
            ):
                return fields["URIs"].split()[0]
        for match in re.finditer(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s+.*\bmain\b", text, re.M
        ):
            return match.group(1)
    return "http://deb.debian.org/debian"


def extra_ca_certificates() -> list[Path]:
    directory = Path("/usr/local/share/ca-certificates")
    return sorted(directory.rglob("*.crt")) if directory.is_dir() else []


def base_tarball() -> Path:
    """The root filesystem tarball, made once per machine (and per set of host CAs)."""
    mirror = debian_mirror()
    digest = hashlib.sha256(mirror.encode())
    for cert in extra_ca_certificates():
        digest.update(cert.read_bytes())
    tarball = CACHE / f"debian-bookworm-minbase-{digest.hexdigest()[:12]}.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        raise Unavailable(
            "debootstrap is needed to make debian:bookworm-slim (apt-get install debootstrap)"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lk-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        made = run(
            ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror], timeout=1200
        )
        if made.returncode != 0:
            raise AssertionError(f"debootstrap failed:\n{made.stdout[-3000:]}{made.stderr[-3000:]}")
        # Trimmed as debian:bookworm-slim is: no documentation, no apt caches.
        (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(SLIM_EXCLUDES)
        for sub in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
            for child in (rootfs / sub).glob("*"):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for sub in ("var/cache/apt", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / sub, ignore_errors=True)
            (rootfs / sub).mkdir(parents=True)
        # update-ca-certificates (run when a build installs ca-certificates) adds these.
        cas = rootfs / "usr/local/share/ca-certificates"
        cas.mkdir(parents=True, exist_ok=True)
        for cert in extra_ca_certificates():
            shutil.copy(cert, cas / cert.name)
        partial = tarball.with_suffix(".partial")
        packed = run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], timeout=600)
        if packed.returncode != 0:
            raise AssertionError(f"tar failed: {packed.stderr}")
        partial.rename(tarball)
    return tarball


def ensure_base_image(engine: Engine) -> None:
    if engine.has_image("debian:bookworm-slim"):
        return
    started = time.monotonic()
    tarball = base_tarball()
    engine.docker("import", str(tarball), "debian:bookworm-slim")
    engine.timings["base image"] = time.monotonic() - started


def build(engine: Engine, tag: str, dockerfile: Path, context: Path) -> None:
    started = time.monotonic()
    result = engine.docker(
        "build", "--quiet", "--file", str(dockerfile), "--tag", tag, str(context),
        timeout=1500, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"building {tag} failed:\n{result.stderr[-6000:]}")
    engine.timings[f"build {tag}"] = time.monotonic() - started


def build_images(engine: Engine) -> dict[str, int]:
    """Both product images and the test PostgreSQL; their sizes in bytes."""
    ensure_base_image(engine)
    # The test PostgreSQL beside the others (mostly waiting for apt); the app
    # image before the Postfix one, whose build stage reuses its first layers.
    with ThreadPoolExecutor(max_workers=1) as pool:
        postgres = pool.submit(
            build, engine, POSTGRES_IMAGE, HERE / "postgres/Dockerfile", HERE / "postgres"
        )
        build(engine, APP_IMAGE, ROOT / "docker/Dockerfile", ROOT)
        build(engine, POSTFIX_IMAGE, ROOT / "postfix/Dockerfile", ROOT)
        postgres.result()
    return {name: engine.image_size(name) for name in (APP_IMAGE, POSTFIX_IMAGE, POSTGRES_IMAGE)}


def inspect(engine: Engine, *names: str) -> list[dict[str, Any]]:
    return json.loads(engine.docker("inspect", *names).stdout)
