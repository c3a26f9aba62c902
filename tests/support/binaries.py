"""Debian's Prometheus and Alertmanager binaries for the tests (scripts/test.sh installs them)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}


def binary(name: str) -> str:
    """The path of ``name``; fails the test (no skip) when its Debian package is missing."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(f"`{name}` not found: install the Debian package {PACKAGES[name]} (bash scripts/test.sh does)")
    return path


def run(*command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a binary by name with arguments; stdout and stderr captured as text."""
    return subprocess.run(
        [binary(command[0]), *command[1:]], capture_output=True, text=True, timeout=timeout, check=False
    )


def free_port() -> int:
    """A port free on 127.0.0.1 now (for servers that cannot bind port 0 themselves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen | None) -> None:
    """Terminate ``process`` (then kill it after 10 s); no-op when it already ended."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
