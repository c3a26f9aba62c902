"""spanmeter's own faults are counted on the spanmeter.internal.errors metric and logged once."""

from __future__ import annotations

import logging

from spanmeter import internal_errors


def _points(reader):
    data = reader.get_metrics_data()
    return {
        (p.attributes["component"], p.attributes["error.type"]): p.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "spanmeter.internal.errors"
        for p in m.data.data_points
    }


def test_faults_are_counted_by_component_and_type_and_logged_once(metric_reader, caplog):
    internal_errors.reset_for_tests()
    with caplog.at_level(logging.WARNING, logger="spanmeter"):
        for _ in range(3):
            internal_errors.record_internal_error("pricing", KeyError("gpt-x"))
        internal_errors.record_internal_error("export", OSError("disk full"))

    assert internal_errors.counts[("pricing", "KeyError")] == 3
    points = _points(metric_reader)
    assert points[("pricing", "KeyError")] >= 3
    assert points[("export", "OSError")] >= 1
    logged = [r for r in caplog.records if r.name == "spanmeter"]
    assert len(logged) == 2
    assert "pricing failed" in logged[0].getMessage()
