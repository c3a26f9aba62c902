"""Real servers on 127.0.0.1 for the integration tests, each stopped when its test ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.pipeline import otlp_sink


@pytest.fixture
def otlp_receiver():
    """An OTLP/gRPC traces+metrics sink on 127.0.0.1 (a free port); ``.url`` is its http:// URL."""
    with otlp_sink() as sink:
        yield sink


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANMETER_"))}
    run = subprocess.run(
        command, cwd=cwd, env={**environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


@pytest.fixture
def run_command():
    """``run_command(command, cwd, **env)``: run it to completion; fail the test on a non-zero exit.

    The environment is this process's without OTEL_* / SPANMETER_* variables, plus ``env``.
    """
    return _run


@pytest.fixture
def run_instrumented():
    """``run_instrumented(script, cwd, args=(), **env)``: ``opentelemetry-instrument python script *args``,
    as run_command.

    Other packages' instrumentors are disabled ("*": they would add spans of their
    own; pre-instrument hooks, spanmeter's processing among them, still run).
    """

    def run(script: Path, cwd: Path, args: list[str] = (), **env: str) -> subprocess.CompletedProcess:
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        env = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*", "OTEL_LOGS_EXPORTER": "none", **env}
        return _run([str(instrument), sys.executable, str(script), *args], cwd, **env)

    return run
