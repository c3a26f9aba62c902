"""The LangChain overhead benchmark works: tiny runs, figures are numbers, one priced span per invoke.

Timing is not judged here; ``bench_langchain.py`` is run by hand for the figures.
"""

from __future__ import annotations

import math

import bench_langchain as bench
from bench_llm_overhead import KEY_ATTRIBUTES


def test_spanmeter_subject_is_measured_with_one_priced_span_per_invoke():
    result = bench.run_subject("spanmeter langchain", pairs=2, calls=3)

    assert not result["leaky"]
    assert result["spans_per_invoke"] == 2  # the chain's workflow span and the one chat span
    assert result["priced_spans_per_invoke"] == 1
    assert set(KEY_ATTRIBUTES) <= set(result["llm_keys"])
    for figure in ("added_us", "iqr_us", "base_us"):
        assert math.isfinite(result[figure]), figure


def test_command_prints_a_row_per_subject(capsys):
    assert bench.main(["--pairs", "2", "--calls", "2"]) == 0

    table = capsys.readouterr().out
    assert "not measured" not in table
    for name in bench.SUBJECTS:
        assert name in table
