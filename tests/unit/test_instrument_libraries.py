"""instrument_libraries applies spanmeter's instrumentors as opentelemetry-instrument does (the real
ones, end to end, in tests/integration/test_distro.py); here: which it applies, skips and warns about."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from spanmeter import on_import


def instrumentor(requirement: str) -> type[BaseInstrumentor]:
    calls: list[dict] = []

    class Fake(BaseInstrumentor):
        def instrumentation_dependencies(self):
            return (requirement,)

        def _instrument(self, **kwargs):
            calls.append(kwargs)

        def _uninstrument(self, **kwargs):
            pass

    Fake.calls = calls
    return Fake


@pytest.fixture
def entries(monkeypatch):
    """Entry points of the opentelemetry_instrumentor group: one of another package's, and spanmeter's fakes."""
    fakes = {
        "other_openai": instrumentor("openai >= 2.0"),
        "spanmeter_current": instrumentor("openai >= 2.0"),
        "spanmeter_future": instrumentor("openai >= 999"),
        "spanmeter_absent": instrumentor("no-such-distribution-for-spanmeter >= 1"),
    }
    points = [SimpleNamespace(name=name, load=lambda cls=cls: cls) for name, cls in fakes.items()]
    monkeypatch.setattr(
        on_import, "entry_points", lambda group: points if group == "opentelemetry_instrumentor" else []
    )
    monkeypatch.delenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", raising=False)
    yield fakes
    for cls in fakes.values():
        if cls().is_instrumented_by_opentelemetry:
            cls().uninstrument()


def test_applies_spanmeters_own_once_and_warns_about_an_unsupported_version(entries, caplog):
    with caplog.at_level(logging.WARNING, logger="spanmeter"):
        assert on_import.instrument_libraries(tracer_provider="provider") == ["spanmeter_current"]
    warnings = [record.getMessage() for record in caplog.records if record.name == "spanmeter"]
    assert on_import.instrument_libraries(tracer_provider="again") == ["spanmeter_current"]

    assert entries["spanmeter_current"].calls == [{"tracer_provider": "provider"}]
    assert not entries["other_openai"].calls and not entries["spanmeter_future"].calls
    (warning,) = warnings
    assert warning.startswith(
        'spanmeter: spanmeter_future is not instrumented: This instrumentation only instruments "openai >= 999"'
    )


@pytest.mark.parametrize("disabled", ["*", "spanmeter_future , spanmeter_current"])
def test_opentelemetry_instrument_s_opt_out_variable_is_honoured(entries, monkeypatch, caplog, disabled):
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", disabled)

    assert on_import.instrument_libraries() == []
    assert not entries["spanmeter_current"].calls and not caplog.records
