"""Tail sampling on root-span facts, in process: the root of each trace of a generated mix
carries what the shipped sampling policies read (the roll-up cost, whether some span failed
or was flagged), so the Collector's tail_sampling keeps every expensive, failed or anomalous
trace on its root alone; the policies read exactly those attribute names."""

from __future__ import annotations

import pytest

from spanmeter import semconv
from support.processing import Pipeline
from support.sampling import attributes_read, kept_by, sampling_policies
from support.span_trees import SAMPLING_PRICES, SAMPLING_ROOT_COSTS, sampling_mix

EXPECTED_KEPT = {
    "POST /report": {"expensive"},
    "POST /refund": {"failed-trace"},
    "GET /slow-search": {"anomalous-trace"},
    "POST /hello": set(),  # priced, under the threshold: sampled like the rest
    "GET /search": set(),
}
FACTS = (semconv.COST_TOTAL_USD, semconv.TRACE_ERROR, semconv.TRACE_ANOMALY)


def test_the_policies_read_exactly_the_root_facts_spanmeter_writes():
    read = set().union(*map(attributes_read, sampling_policies()))
    assert read == set(FACTS)
    assert {policy["type"] for policy in sampling_policies()} >= {"probabilistic", "status_code"}


@pytest.fixture
def prices(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(SAMPLING_PRICES)
    return {"prices_file": str(path), "anomaly_min_samples": 8}


def test_each_root_in_process_carries_the_facts_its_trace_is_kept_on(prices):
    with Pipeline(prices) as p:
        sampling_mix(p.tracer)
        p.processor.force_flush()
        roots = [span for span in p.exporter.get_finished_spans() if span.parent is None]
    assert len(roots) == 14
    for root in roots:
        facts = {key: root.attributes[key] for key in FACTS if key in root.attributes}
        assert kept_by(root.attributes, root.status.status_code.name) == EXPECTED_KEPT[root.name], (root.name, facts)
        if root.name in SAMPLING_ROOT_COSTS:
            assert facts.pop(semconv.COST_TOTAL_USD) == pytest.approx(SAMPLING_ROOT_COSTS[root.name])
        assert set(facts.values()) <= {True}  # the flags are written only when true
    assert not any(semconv.TRACE_ERROR in span.attributes for span in p.exporter.get_finished_spans()
                   if span.parent is not None)  # fmt: skip
