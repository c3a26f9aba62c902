"""Debian's headless Chromium for the tests (scripts/test.sh installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile and the flags this closed network needs."""
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
