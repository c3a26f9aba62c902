"""spanmeter's own faults are counted on the spanmeter.internal.errors metric and logged once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spanmeter import internal_errors
from support.metrics import internal_error_points

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.expect_internal_errors
def test_faults_are_counted_by_component_and_type_and_logged_once(metric_reader, caplog):
    before = internal_error_points(metric_reader)
    with caplog.at_level(logging.WARNING, logger="spanmeter"):
        for _ in range(3):
            internal_errors.record_internal_error("pricing", KeyError("gpt-x"))
        internal_errors.record_internal_error("export", OSError("disk full"))

    assert internal_errors.counts[("pricing", "KeyError")] == 3
    points = internal_error_points(metric_reader)
    assert points[("pricing", "KeyError")] == before.get(("pricing", "KeyError"), 0) + 3
    assert points[("export", "OSError")] == before.get(("export", "OSError"), 0) + 1
    logged = [r for r in caplog.records if r.name == "spanmeter"]
    assert len(logged) == 2
    assert "pricing failed" in logged[0].getMessage()


_SUITE = """
import pytest
from spanmeter.internal_errors import guard

def test_clean():
    pass

def test_swallows_a_fault():
    with guard("processing.pricing"):
        raise KeyError("gpt-x")

@pytest.mark.expect_internal_errors
def test_injects_a_fault_on_purpose():
    with guard("processing.pricing"):
        raise KeyError("gpt-x")
"""


def test_a_test_in_which_the_guard_swallowed_a_fault_fails_unless_marked(tmp_path):
    """The suite's own rule (tests/support/internal_errors.py), run on a suite of three tests."""
    (tmp_path / "conftest.py").write_text(
        "from support.internal_errors import fresh_internal_errors, pytest_runtest_call  # noqa: F401\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    expect_internal_errors: on purpose\n")
    (tmp_path / "test_suite.py").write_text(_SUITE)

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(tmp_path)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(TESTS)}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip

    assert run.returncode == 1, run.stdout
    assert "1 failed, 2 passed" in run.stdout
    assert "FAILED test_suite.py::test_swallows_a_fault" in run.stdout
    assert "spanmeter's fault guard swallowed: processing.pricing (KeyError) x1" in run.stdout
