"""The Dockerfile's install step, run as it is in a fresh virtualenv (no Docker engine here):
what the image would hold installs, and its `spanmeter` command starts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)  # pip resolves and downloads every extra without a cache, as the image build does
def test_the_images_pip_install_line_works_in_a_fresh_venv(tmp_path):
    (line,) = re.findall(r"^RUN (pip install .+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        f"{venv}/bin/python -m {line}", shell=True, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    assert install.returncode == 0, install.stderr[-3000:]
    version = subprocess.run(
        [str(venv / "bin" / "spanmeter"), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.returncode == 0 and version.stdout.startswith("spanmeter, version"), version.stderr
