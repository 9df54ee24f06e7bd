"""Debian's Chromium driven by Playwright, shared by the browser tests.

Playwright's own browser download cannot run here, so the tests launch
/usr/bin/chromium (apt-get install chromium). The flags keep it off the
network it cannot reach.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test's thread; the ORM calls
# the tests make between page actions are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"
)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
