"""The package works as a wheel, not only as an editable checkout.

Builds the wheel, installs it into a fresh venv (no system site-packages, no
source tree on the path) and runs it from an empty directory: templates and
static files must come from inside the package. Dependencies come from pip's
cache or the package index, so the module shares one install (~30 s).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.wheel

NOT_SOURCE = (".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")

RENDER_NOTICE = """
import django
django.setup()
from listkeeper.delivery.notices import render_email
subject, text, html = render_email(
    "confirm",
    {"site_url": "https://lists.example.org", "confirm_url": "https://lists.example.org/confirm/t/",
     "list": {"name": "Community", "address": "community@lists.example.org"}},
)
print(subject)
print("--text--")
print(text)
print("--html--")
print(html)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ directory of a fresh venv with the built wheel installed."""
    work = tmp_path_factory.mktemp("wheel")
    # Build from a clean copy: setuptools keeps a build/ directory in the tree
    # it builds, and a stale one would put deleted files into the wheel.
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        check=True,
        cwd=work,
    )
    (wheel,) = dist.glob("listkeeper-*.whl")
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [
            bin_dir / "pip",
            "install",
            "-q",
            "--no-compile",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        cwd=work,
    )
    return bin_dir


def run(bin_dir: Path, tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LISTKEEPER_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "wheel-test-" + "x" * 40,
        "DJANGO_SETTINGS_MODULE": "listkeeper.settings",
    }
    return subprocess.run(
        [str(a) for a in args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_it_installs_without_the_source_tree(installed: Path, tmp_path: Path) -> None:
    done = run(
        installed,
        tmp_path,
        installed / "python",
        "-c",
        "import listkeeper; print(listkeeper.__file__)",
    )

    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed.parent)


def test_it_runs_listkeeper_check(installed: Path, tmp_path: Path) -> None:
    done = run(installed, tmp_path, installed / "listkeeper", "check")

    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_it_renders_a_notice_from_the_packaged_templates(installed: Path, tmp_path: Path) -> None:
    done = run(installed, tmp_path, installed / "python", "-c", RENDER_NOTICE)

    assert done.returncode == 0, done.stderr
    subject, rest = done.stdout.split("\n--text--\n")
    text, html = rest.split("\n--html--\n")
    assert "Community" in subject
    assert "https://lists.example.org/confirm/t/" in text
    assert "https://lists.example.org/confirm/t/" in html and "<html" in html.lower()


def test_it_ships_the_mail_templates_inside_the_package() -> None:
    # The repository root has no templates/ any more: only the package's count.
    assert not (ROOT / "templates").exists()
    names = {p.name for p in (ROOT / "listkeeper/mail/templates/emails").iterdir()}
    assert {"confirm.subject.txt", "confirm.txt", "confirm.html"} <= names
