"""The private SDK attributes spanmeter relies on: present in the installed versions, and a soft landing when not."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanmeter import distro, internal_errors, sdk_internals


@pytest.fixture
def fresh_checks():
    sdk_internals.check.cache_clear()
    yield
    sdk_internals.check.cache_clear()


@pytest.mark.parametrize("group", sorted(sdk_internals.REQUIREMENTS))
def test_every_private_attribute_spanmeter_reads_exists_in_the_installed_packages(group):
    # Fails on the upgrade that removes one: move the accessor in sdk_internals to what replaced it.
    assert [str(requirement) for requirement in sdk_internals.missing(group)] == []


@pytest.mark.expect_internal_errors
def test_a_missing_attribute_is_reported_once_and_counted_never_raised(monkeypatch, fresh_checks, caplog):
    gone = sdk_internals.Requirement("opentelemetry.sdk.trace", "TracerProvider", "_renamed_away", "a test")
    monkeypatch.setitem(sdk_internals.REQUIREMENTS, "opentelemetry-sdk", (gone,))

    with caplog.at_level(logging.WARNING, logger="spanmeter"):
        assert sdk_internals.check("opentelemetry-sdk") is False
        assert sdk_internals.check("opentelemetry-sdk") is False  # checked once per process

    assert internal_errors.counts == {("sdk_internals.opentelemetry-sdk", "AttributeError"): 1}
    (record,) = caplog.records
    assert "opentelemetry.sdk.trace.TracerProvider._renamed_away (a test)" in record.getMessage()


def test_a_module_or_class_gone_counts_as_missing(monkeypatch):
    requirements = (
        sdk_internals.Requirement("no_such_module_for_spanmeter", "Owner", "_x", "a test"),
        sdk_internals.Requirement("opentelemetry.sdk.trace", "NoSuchClass", "_x", "a test"),
    )
    monkeypatch.setitem(sdk_internals.REQUIREMENTS, "gone", requirements)
    assert sdk_internals.missing("gone") == list(requirements)


@pytest.mark.expect_internal_errors
def test_distro_leaves_the_provider_alone_when_sdk_internals_are_missing(monkeypatch, fresh_checks):
    gone = sdk_internals.Requirement("opentelemetry.sdk.trace", "TracerProvider", "_renamed_away", "a test")
    monkeypatch.setitem(sdk_internals.REQUIREMENTS, "opentelemetry-sdk", (gone,))
    provider = TracerProvider()
    processor = SimpleSpanProcessor(InMemorySpanExporter())
    provider.add_span_processor(processor)

    assert distro.install_processing(provider) is None

    assert sdk_internals.span_processors(provider) == (processor,)
    assert internal_errors.counts == {("sdk_internals.opentelemetry-sdk", "AttributeError"): 1}


def test_replace_span_processors_and_detach_exporter_on_a_real_provider():
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    batch = BatchSpanProcessor(exporter)
    provider.add_span_processor(batch)
    simple = SimpleSpanProcessor(InMemorySpanExporter())

    sdk_internals.replace_span_processors(provider, (simple,))
    sdk_internals.detach_exporter(batch, distro._DETACHED)
    batch.shutdown()

    assert sdk_internals.span_processors(provider) == (simple,)
    assert not exporter._stopped  # the real exporter was not shut down with its retired processor


def test_stream_manager_request_names_the_attribute_of_the_managers_own_class():
    from anthropic.lib.streaming import AsyncMessageStreamManager, MessageStreamManager

    sync_manager = MessageStreamManager(lambda: "sent", output_format=None)
    sdk_internals.replace_stream_manager_request(sync_manager, "replaced")
    assert sdk_internals.stream_manager_request(sync_manager) == "replaced"
    assert sync_manager._MessageStreamManager__api_request == "replaced"

    async_manager = AsyncMessageStreamManager(None, output_format=None)
    assert sdk_internals.stream_manager_request(async_manager) is None
    with pytest.raises(AttributeError):
        sdk_internals.stream_manager_request(object())
