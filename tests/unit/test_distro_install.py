"""install_processing (the pre-instrument hook) and spanmeter.configure on providers built in-process."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import spanmeter
from spanmeter import semconv
from spanmeter.distro import install_processing
from spanmeter.processing import SpanmeterProcessor

USAGE = {
    semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
    semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    semconv.GEN_AI_USAGE_INPUT_TOKENS: 100, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
}  # fmt: skip


def processors(provider: TracerProvider) -> tuple:
    return provider._active_span_processor._span_processors


@pytest.fixture
def provider():
    provider = TracerProvider()
    yield provider
    provider.shutdown()


def test_hook_merges_the_sdk_processors_into_one_and_is_idempotent(provider, caplog):
    batch_exporter, simple_exporter = InMemorySpanExporter(), InMemorySpanExporter()
    provider.add_span_processor(BatchSpanProcessor(batch_exporter))
    provider.add_span_processor(SimpleSpanProcessor(simple_exporter))

    with caplog.at_level(logging.INFO, logger="spanmeter"):
        first = install_processing(provider)
        second = install_processing(provider)

    assert isinstance(first, SpanmeterProcessor)
    assert second is first
    assert processors(provider) == (first,)
    assert first.exporters == (batch_exporter, simple_exporter)
    (notice,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "set up by another configurator" in notice.getMessage()
    assert "InMemorySpanExporter, InMemorySpanExporter" in notice.getMessage()

    with provider.get_tracer("test").start_as_current_span("chat gpt-4o-mini", attributes=USAGE):
        pass
    provider.force_flush()
    for exporter in (batch_exporter, simple_exporter):  # retiring the old processors left them working
        (span,) = exporter.get_finished_spans()
        assert span.attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES


def test_processors_that_export_on_their_own_are_left_and_named(provider, caplog):
    class OwnBatching(BatchSpanProcessor):
        pass

    own = OwnBatching(InMemorySpanExporter())
    provider.add_span_processor(own)

    with caplog.at_level(logging.WARNING, logger="spanmeter"):
        installed = install_processing(provider)

    assert processors(provider) == (own, installed)
    assert installed.exporters == ()
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "no span exporter is configured" in messages
    assert "bypasses spanmeter's processing" in messages and "OwnBatching" in messages


def test_configure_keeps_an_existing_provider_and_its_one_processor(tracer_provider):
    """The session's provider already has a SpanmeterProcessor: configure adds no second."""
    before = processors(tracer_provider)

    assert spanmeter.configure(instrument=False) is tracer_provider
    assert processors(tracer_provider) == before


def test_configure_rejects_a_bad_setting_before_touching_anything(tracer_provider):
    before = processors(tracer_provider)

    with pytest.raises(spanmeter.ConfigError, match="anomaly_sigma"):
        spanmeter.configure(anomaly_sigma=-1)
    assert processors(tracer_provider) == before


def test_configure_rejects_a_malformed_price_file(tracer_provider, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("openai: [\n")
    before = processors(tracer_provider)

    with pytest.raises(spanmeter.ConfigError, match=r"price file .*prices.yaml.*not valid YAML \(line 2, column 1"):
        spanmeter.configure(prices_file=str(prices))
    assert processors(tracer_provider) == before
