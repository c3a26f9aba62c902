"""Every test starts and ends with spanmeter's internal-error tallies empty (tests/conftest.py applies it)."""

from __future__ import annotations

import pytest

from spanmeter import internal_errors


@pytest.fixture(autouse=True)
def fresh_internal_errors():
    internal_errors.reset_for_tests()
    yield
    internal_errors.reset_for_tests()
