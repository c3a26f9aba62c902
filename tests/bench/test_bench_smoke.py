"""The overhead benchmarks' harnesses work: tiny runs, figures are numbers, one span per call.

Timing is not judged here (CI machines are noisy); `bench_llm_overhead.py` and
`bench_llm_floor.py` are run by hand.
"""

from __future__ import annotations

import math

import bench_llm_floor
import bench_llm_overhead as bench
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.mark.parametrize("name", ["bare SDK span (5 attrs)", "spanmeter openai", "spanmeter anthropic"])
def test_subject_is_measured_with_one_span_per_call(name):
    result = bench.run_subject(name, pairs=2, calls=3)
    assert not result["leaky"]
    assert result["stray_spans_per_call"] == 0
    for row in result["rows"]:
        assert row["spans_per_call"] == 1
        for figure in ("added_us", "iqr_us", "base_us", "bg_us", "attrs_per_span"):
            assert isinstance(row[figure], float) and math.isfinite(row[figure]), figure


def test_command_prints_a_row_per_subject(capsys):
    assert bench.main(["--subjects", "bare SDK span (5 attrs)", "--pairs", "2", "--calls", "2"]) == 0
    table = capsys.readouterr().out
    assert "bare SDK span (5 attrs)" in table and "not measured" not in table


def test_command_divides_spanmeter_by_its_peer_in_cpu_time(capsys):
    argv = ["--subjects", "spanmeter openai,official openai-v2", "--pairs", "2", "--calls", "2", "--clock", "cpu"]
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    assert "cpu time" in table and "not measured" not in table
    for call in ("chat", "stream"):
        assert f"spanmeter openai / official openai-v2, {call}: " in table


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_floor_bench_compares_spans_with_the_same_attributes(sdk):
    exporter = InMemorySpanExporter()
    figures = bench_llm_floor.measure(sdk, rounds=5, exporter=exporter)
    assert set(figures) == {"floor", "minimal", "spanmeter"}
    for name, value in figures.items():
        assert math.isfinite(value) and value > 0, name
    spans = exporter.get_finished_spans()
    assert len(spans) == 3 * (3 + 5)  # warm-up rounds and timed rounds, one span per subject each
    assert len({(span.name, tuple(sorted(span.attributes))) for span in spans}) == 1  # like for like


def test_otlp_json_bench_prints_every_figure(capsys):
    import bench_otlp_json

    assert bench_otlp_json.main(["--spans", "8", "--rounds", "2"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 6
    for row in rows:
        assert math.isfinite(float(row.split()[-1])), row
