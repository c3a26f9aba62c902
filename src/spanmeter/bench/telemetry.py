"""spanmeter in the benchmark's own process: spans are enriched by a SpanmeterProcessor and read
back by :class:`SpanStats`, which keeps running totals (tokens, cost, time per kind of work) rather
than the spans, so a long run stays small.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from spanmeter import on_import, rules, semconv
from spanmeter.processing import SpanmeterProcessor

SERVICE_NAME = "spanmeter-bench"


def _number(value: object) -> float:
    return float(value) if type(value) in (int, float) else 0.0


class SpanStats(SpanExporter):
    """Totals over the enriched spans exported since the last :meth:`reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.spans = 0
            self.input_tokens = self.output_tokens = 0
            self.cost_usd = 0.0
            self.seconds_by_kind: dict[str, float] = {}

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                get = (span.attributes or {}).get
                kind = rules.kind_of(rules.operation(get))
                self.spans += 1
                duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
                self.seconds_by_kind[kind] = self.seconds_by_kind.get(kind, 0.0) + duration
                self.cost_usd += _number(get(semconv.COST_USD)) + _number(get(semconv.COST_COMPUTE_USD))
                if kind == "llm":
                    self.input_tokens += int(_number(rules.input_tokens_raw(get)))
                    self.output_tokens += int(_number(rules.output_tokens_raw(get)))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def time_share(self, request_seconds: float) -> dict[str, float]:
        """Shares of the requests' wall time spent in LLM calls, in tools (beyond LLM time), and the rest.

        Tool spans that wrap LLM calls count their LLM time once, as ``llm``. Spans that end before
        the result is read count, those of requests abandoned at their timeout included.
        """
        if request_seconds <= 0:
            return {"llm": 0.0, "tool": 0.0, "other": 0.0}
        llm = min(self.seconds_by_kind.get("llm", 0.0), request_seconds)
        tool = min(self.seconds_by_kind.get("tool", 0.0), request_seconds - llm)
        return {"llm": llm / request_seconds, "tool": tool / request_seconds,
                "other": (request_seconds - llm - tool) / request_seconds}  # fmt: skip


def install(stats: SpanStats) -> TracerProvider | None:
    """Send the process's spans through a SpanmeterProcessor into ``stats``.

    The global SDK provider is used when one is set already (e.g. under ``opentelemetry-instrument``,
    whose exporters keep receiving the spans); else one is created. Returns the provider, or None when
    the global one is not the SDK's (nothing can be read back then).
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        trace.set_tracer_provider(provider)
    if not isinstance(provider, TracerProvider):
        return None
    provider.add_span_processor(SpanmeterProcessor(stats, schedule_delay_millis=200))
    on_import.instrument_libraries(tracer_provider=provider)
    return provider
