"""bench_pipeline.py runs end to end at tiny sizes and prints its figures (no timing is asserted)."""

from __future__ import annotations

import re

import bench_pipeline
import pytest

pytestmark = pytest.mark.integration


def test_throughput_and_latency_figures_are_printed(capsys):
    bench_pipeline.main(["--batches", "3", "--concurrency", "2", "--latency-batches", "3", "--floor-seconds", "0.2",
                         "--shape-batches", "2"])  # fmt: skip
    out = capsys.readouterr().out
    for shape, target in (("plain HTTP/DB", "2.0"), ("10 % LLM", "2.5"), ("all LLM", "5.0")):
        assert re.search(
            rf"{shape} +with spanmeter +[\d.]+ +without +[\d.]+ +ratio (\d+\.\d\dx +)?(n/a +)?\(target <= {target}x",
            out,
        )
    assert re.search(r"floor .*: [\d,]+ spans/s", out)
    for transport in ("OTLP/gRPC", "OTLP/HTTP protobuf", "OTLP/HTTP JSON"):
        assert re.search(rf"{transport} +end-to-end +[\d,]+ spans/s +ratio to floor \d+\.\d\d", out), out
    assert re.search(r"latency per batch via pipeline p50 [\d.]+ ms +p99 [\d.]+ ms", out)


def test_soak_delivers_everything_accepted_after_the_downstream_recovers(capsys):
    bench_pipeline.main(["--soak", "--soak-seconds", "3", "--soak-rate", "3000", "--soak-queue", "2"])
    out = capsys.readouterr().out
    match = re.search(r"accepted ([\d,]+) spans; refused-with-retry (\d+) times; delivered after recovery ([\d,]+) "
                      r"spans \(all\)", out)  # fmt: skip
    assert match, out
    assert match.group(1) == match.group(3) and int(match.group(2)) >= 1
    assert re.search(r"peak RSS \d+ MiB", out)
