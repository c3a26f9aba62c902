"""spanmeter's own faults are counted on the spanmeter.internal.errors metric and logged once."""

from __future__ import annotations

import logging

from spanmeter import internal_errors
from support.metrics import internal_error_points


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
