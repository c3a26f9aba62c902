"""The processor benchmark's harness works: tiny sizes, every figure a finite number,
no span dropped. Timing is not judged here; `bench_processor.py` is run by hand."""

from __future__ import annotations

import json
import math

import bench_processor as bench


def test_every_figure_is_a_finite_number(capsys):
    argv = ["--pairs", "2", "--block-spans", "50", "--enrich-spans", "600", "--memory-spans", "300",
            "--memory-warmup", "100", "--burst-spans", "5000", "--burst-rounds", "1", "--json"]  # fmt: skip
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    results = json.loads(out.splitlines()[-1])
    assert set(results) == {"app", "burst", "enrich", "memory"}
    for part, figures in results.items():
        for name, value in figures.items():
            if isinstance(value, float):
                assert math.isfinite(value), (part, name)
    assert results["app"]["dropped"] == 0
    assert results["enrich"]["priced_by"] == "genai-prices"
    assert results["memory"]["spanmeter_exported"] == results["memory"]["expected_exported"]
    assert all(shape["drops_counted_exactly"] for shape in results["burst"].values())
    assert "ratio" in out and "kept:" in out and "spans/s" in out and "RSS growth" in out
