"""The OTLP enrichment benchmark's harness works: tiny sizes, every figure a finite positive
number. Timing is not judged here; `bench_enrich_otlp.py` is run by hand."""

from __future__ import annotations

import json
import math

import bench_enrich_otlp as bench


def test_every_figure_is_a_finite_positive_number(capsys):
    assert bench.main(["--batches", "2", "--spans-per-batch", "20", "--repeats", "1", "--json"]) == 0
    out = capsys.readouterr().out
    results = json.loads(out.splitlines()[-1])
    assert {"decode_us", "enrich_us", "encode_us", "floor_us", "access_read_once_lazy_us"} <= set(results)
    assert all(math.isfinite(value) and value > 0 for value in results.values())
    assert "spans/s" in out and "floor" in out
