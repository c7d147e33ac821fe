"""The system's Chromium for the browser tests (Debian's `chromium`, driven by Playwright: no download).

Without the background-networking flags Chromium keeps calling Google's hosts, which a closed network
refuses; the sandbox needs privileges a test run (often root in a container) does not have."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """The system's Chromium: these tests check pages in a browser, so a missing one is a failure."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
    if found is None:
        pytest.fail("Chromium is needed for the browser tests: install it (Debian: apt install chromium)")
    return found
