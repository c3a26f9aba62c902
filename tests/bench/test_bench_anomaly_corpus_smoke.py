"""The corpus benchmark runs with tiny sizes and prints a row per detector and shape; its
quality figures are deterministic for a seed, so the shipped detector's are asserted."""

from __future__ import annotations

import anomaly_corpus
import bench_anomaly_corpus as bench


def test_corpus_is_labelled_and_reproducible():
    spans = anomaly_corpus.build(traces=200, seed=3)
    assert spans == anomaly_corpus.build(traces=200, seed=3)
    assert {span.shape for span in spans} == set(anomaly_corpus.SHAPES)
    labels = {span.label for span in spans}
    assert {"healthy", "spike", "shift", "failed", "context"} <= labels
    assert [span.end_ns for span in spans] == sorted(span.end_ns for span in spans)
    assert all(spans[span.parent].trace == span.trace for span in spans if span.parent is not None)


def test_spanmeter_meets_the_quality_targets_on_a_small_corpus():
    spans = anomaly_corpus.build(traces=400, seed=1)
    rule = bench.shipped_rule()
    totals = {
        name: bench.overall(bench.score(spans, bench.run(make, spans), rule)) for name, make in bench.DETECTORS.items()
    }
    met = bench.targets_met(totals["spanmeter"], cost_ratio=1.0)  # timing is printed, never judged
    assert all(met.values()), (met, totals["spanmeter"])
    # the comparison means something: the previous detector misses where this one holds
    assert totals["previous"].fpr > bench.TARGETS["fpr"]
    assert totals["naive mean+3σ"].precision < bench.TARGETS["precision"]


def test_command_prints_every_shape_for_every_detector(capsys):
    assert bench.main(["--traces", "120", "--timing-spans", "300"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shapes = (*anomaly_corpus.SHAPES, "overall")
    rows = [line.split() for line in lines if len(line.split()) > 2 and line.split()[1] in shapes]
    rows += [
        line.split()[1:] for line in lines if len(line.split()) > 2 and line.split()[2] in shapes
    ]  # "naive mean+3σ"
    assert len(rows) == 3 * len(shapes)
    assert any(line.startswith("µs per observe: spanmeter") for line in lines)
    assert lines[-1].startswith("targets:")
