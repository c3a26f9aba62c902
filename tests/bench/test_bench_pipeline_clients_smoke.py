"""bench_pipeline_clients.py runs end to end at tiny sizes and prints its figures (no timing is asserted)."""

from __future__ import annotations

import re

import bench_pipeline_clients
import pytest

pytestmark = pytest.mark.integration


def test_hostile_client_figures_are_printed(capsys):
    bench_pipeline_clients.main(["--idle", "5", "--slow", "1", "--big", "2", "--read-timeout", "1"])
    out = capsys.readouterr().out
    assert "idle connections: 5 opened, 5 closed by the pipeline" in out
    assert re.search(r"slow senders \(1 byte/s\): 1 of 1 cut off within 60 s, after [\d.]+-[\d.]+ s", out)
    assert re.search(r"2 concurrent [\d.]+ MiB requests: .*200.*; peak RSS \d+ MB; slowest /healthz \d+ ms", out)
