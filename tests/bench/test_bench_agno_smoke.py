"""The Agno bench works: a tiny run prints a row per subject with numbers (timings are not judged)."""

from __future__ import annotations

import bench_agno


def test_bench_prints_a_measured_row_per_subject(capsys):
    assert bench_agno.main(["--pairs", "1", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "not measured" not in out, out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == set(bench_agno.SUBJECTS)
    spanmeter = rows["spanmeter"]
    assert int(spanmeter[4]) == 4  # the run, the tool, two openai calls
    assert spanmeter[5] == f"{len(bench_agno.KEY_ATTRIBUTES)}/{len(bench_agno.KEY_ATTRIBUTES)}"
    float(spanmeter[1]), float(rows["openinference"][1])
