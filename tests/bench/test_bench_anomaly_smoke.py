"""The anomaly quality benchmark runs, prints numbers, and its quality targets hold on a fixed seed.

Quality is deterministic for a seed, so it is asserted; µs per observe is printed, never judged.
"""

from __future__ import annotations

import math

import bench_anomaly_quality as bench


def test_quality_targets_hold_on_a_fixed_seed():
    row = bench.evaluate(bench.spanmeter_detector, seeds=1, samples=4000, log_sigma=0.3)
    assert bench.targets_met(row), row
    assert row["precision"] > 0.8


def test_naive_detector_keeps_flagging_the_shifted_level():
    """The comparison means something: the naive rule fails where spanmeter's detector holds."""
    row = bench.evaluate(bench.NaiveDetector, seeds=1, samples=4000, log_sigma=0.3)
    assert row["shift_flags_after_200"] > 0
    assert row["fpr"] > bench.TARGETS["fpr"]


def test_command_prints_a_row_of_numbers_per_detector(capsys):
    assert bench.main(["--samples", "2000", "--seeds", "1", "--log-sigmas", "0.3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    below_rule = lines[next(i for i, line in enumerate(lines) if line.startswith("---")) + 1 :]
    rows = [line for line in below_rule if "µs per observe" not in line][:-1]  # the last line is the verdict
    assert [row.split()[0] for row in rows] == ["spanmeter", "naive", "previous"]
    for row in rows:  # log-σ, precision, recall, FPR %, shift flags, adapt, >=200, all >=200
        assert all(math.isfinite(float(figure)) for figure in row.split()[-8:]), row
    timings = [line for line in lines if "µs per observe" in line]
    assert len(timings) == 3
    assert all(float(line.split()[-1]) > 0 for line in timings)
    assert lines[-1].endswith(": met")
