"""A test fails when spanmeter's fault guard swallowed an error in it, unless it says it expects one.

A swallowed fault keeps the app running, so the test that caused it would pass and hide
it. Every test starts with spanmeter's internal-error tallies empty (the autouse fixture);
after the test's own code ran, the global TracerProvider is flushed (faults in the batch
worker belong to the test whose spans they were) and any tally left fails the test (the
hook). Tests that inject faults on purpose carry ``@pytest.mark.expect_internal_errors``.
tests/conftest.py applies both to every test. Subprocess tests are not covered: their
tallies live in the child.
"""

from __future__ import annotations

import pytest
from opentelemetry import trace

from spanmeter import internal_errors

MARKER = "expect_internal_errors"


@pytest.fixture(autouse=True)
def fresh_internal_errors():
    internal_errors.reset_for_tests()
    yield
    internal_errors.reset_for_tests()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield  # a test that failed by itself is reported as it failed
    if item.get_closest_marker(MARKER) is None:
        provider = trace.get_tracer_provider()
        if hasattr(provider, "force_flush"):
            provider.force_flush()
        if internal_errors.counts:
            faults = ", ".join(
                f"{component} ({error_type}) x{n}"
                for (component, error_type), n in sorted(internal_errors.counts.items())
            )
            pytest.fail(
                f"spanmeter's fault guard swallowed: {faults} (the 'spanmeter' log shows the first traceback); "
                f"mark the test @pytest.mark.{MARKER} if it injects them on purpose",
                pytrace=False,
            )
    return result
