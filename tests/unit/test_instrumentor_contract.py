"""What every LLM instrumentor owes the app, checked for each (cases: tests/support/instrumentors.py).

Faults never reach the app: neither a span processor that raises nor a fault injected
into spanmeter's own code changes what a call returns or raises; each fault is counted
under the instrumentor's component of ``spanmeter.internal.errors``.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from spanmeter import internal_errors
from support.instrumentation import RaisingProcessor, instrumenting
from support.instrumentors import CASES, FAULTS, InstrumentorCase, raising


@pytest.fixture
def instrument(case: InstrumentorCase, tracer_provider, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the Agents SDK's own trace exporter sends nothing
    yield from instrumenting(case.instrumentor, tracer_provider, monkeypatch)


def component_faults(case: InstrumentorCase) -> dict[str, int]:
    """Faults counted under the case's component, by error type."""
    return {kind: count for (component, kind), count in internal_errors.counts.items() if component == case.component}


@pytest.mark.parametrize("case", CASES, ids=repr)
@pytest.mark.parametrize("hook", ["on_start", "on_end"])
@pytest.mark.expect_internal_errors
def test_a_raising_span_processor_never_reaches_the_app(case, instrument, hook):
    provider = TracerProvider()
    provider.add_span_processor(RaisingProcessor(hook))
    instrument(provider=provider)
    client = case.client()

    assert case.call(client) == case.call_result
    assert case.stream(client) == case.stream_result
    with pytest.raises(case.api_error):  # errors still come through as the SDK raised them
        case.call(case.failing_client())

    # One fault per span (of three calls), where the processor raised: starting or ending it.
    assert component_faults(case) == {"RuntimeError": 3 * case.spans_per_call}


@pytest.mark.parametrize(("case", "stage"), FAULTS, ids=[f"{case!r}-{stage}" for case, stage in FAULTS])
@pytest.mark.expect_internal_errors
def test_faults_in_spanmeters_own_code_are_counted_and_swallowed(case, stage, instrument, finished_spans, monkeypatch):
    monkeypatch.setattr(*case.fault_targets[stage], raising(f"injected fault in {stage}"))
    instrument()
    client = case.client(stage)

    assert case.call(client) == case.call_result
    assert case.stream(client) == case.stream_result

    assert set(component_faults(case)) == {"ValueError"}
    assert len(finished_spans()) == case.spans_with_fault(stage)
