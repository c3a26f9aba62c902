"""The ``jaeger`` exporter: OTLP/gRPC to SPANMETER_JAEGER_ENDPOINT, here a local receiver standing in for Jaeger."""

from __future__ import annotations

import textwrap

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter import semconv
from spanmeter.export import JaegerSpanExporter

pytestmark = pytest.mark.integration


def test_built_without_arguments_it_sends_to_the_configured_endpoint(otlp_receiver, monkeypatch):
    """As the SDK builds it for OTEL_TRACES_EXPORTER=jaeger: no arguments, plaintext for http://."""
    monkeypatch.setenv("SPANMETER_JAEGER_ENDPOINT", otlp_receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # the otlp exporter's, not read
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("test").start_as_current_span("root", attributes={"k": "v"}):
        pass
    exporter = JaegerSpanExporter()

    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
    exporter.shutdown()

    (span,) = otlp_receiver.spans()
    assert span.name == "root"
    assert span.span_id == memory.get_finished_spans()[0].context.span_id.to_bytes(8, "big")


def test_opentelemetry_instrument_with_jaeger_exporter(tmp_path, run_instrumented, otlp_receiver):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(
        """
        import spanmeter

        @spanmeter.stage("load", source="orders")
        def load():
            spanmeter.record_data(bytes=2_000_000, records=1_000)

        load()
        """
    ))  # fmt: skip

    run_instrumented(
        script, tmp_path,
        OTEL_PYTHON_DISTRO="spanmeter", OTEL_PYTHON_CONFIGURATOR="spanmeter",
        OTEL_TRACES_EXPORTER="jaeger", OTEL_METRICS_EXPORTER="none",
        SPANMETER_JAEGER_ENDPOINT=otlp_receiver.url, SPANMETER_COMPUTE_USD_PER_HOUR="36",
    )  # fmt: skip

    (span,) = otlp_receiver.spans()
    attributes = {kv.key: kv.value for kv in span.attributes}
    assert span.name == "run_stage load"
    assert attributes[semconv.DATA_BYTES].int_value == 2_000_000
    compute_usd = attributes[semconv.COST_COMPUTE_USD].double_value
    assert compute_usd == pytest.approx((span.end_time_unix_nano - span.start_time_unix_nano) * 1e-9 * 36 / 3600)
    assert attributes[semconv.COST_PER_GB_USD].double_value == pytest.approx(compute_usd / 0.002)
    assert not (tmp_path / "spanmeter-traces.jsonl").exists()
