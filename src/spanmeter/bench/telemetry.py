"""spanmeter in the benchmark's own process: spans are enriched by a SpanmeterProcessor whose
enricher hands each work span's facts (:class:`~spanmeter.processing.outcome.SpanOutcome`) to
:class:`SpanStats`, which keeps running totals (LLM calls, errors, tokens, cost, unpriced calls,
cost per GB, time per kind of work) rather than the spans, so a long run stays small and counts
what ``spanmeter report`` and the Insights API count.
"""

from __future__ import annotations

import os
import threading

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from spanmeter import on_import
from spanmeter.processing import SpanmeterProcessor
from spanmeter.processing.groups import Group, data_keys
from spanmeter.processing.outcome import SpanOutcome

SERVICE_NAME = "spanmeter-bench"
QUEUE_SIZE = 16_384
"""The bench's span queue, unless ``OTEL_BSP_MAX_QUEUE_SIZE`` says otherwise: 8x the SDK's default,
~55 MB if full (~3.3 KB per queued LLM span), so a worker that falls behind a fast target for a
few seconds (e.g. its first batch waiting for price data on a busy machine) costs no span."""


class SpanStats:
    """Totals over the work spans enriched since the last :meth:`reset` (an OutcomeListener)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.llm = Group(latency=False)
            """LLM calls (calls, errors, tokens, cost, unpriced) and the data spans' bytes and cost."""
            self.cost_usd = 0.0
            self.seconds_by_kind: dict[str, float] = {}

    def on_outcome(self, outcome: SpanOutcome) -> None:
        with self._lock:
            self.seconds_by_kind[outcome.kind] = self.seconds_by_kind.get(outcome.kind, 0.0) + outcome.duration_s
            self.cost_usd += outcome.own_usd or 0.0
            if outcome.kind == "llm":
                self.llm.add(outcome, outcome.cost_usd)
            if next(data_keys(outcome), None) is not None:
                self.llm.add_data(outcome)

    @property
    def input_tokens(self) -> int:
        return self.llm.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.llm.output_tokens

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


def install(stats: SpanStats) -> SpanmeterProcessor | None:
    """Enrich the process's spans with a SpanmeterProcessor whose outcomes go to ``stats``.

    The global SDK provider is used when one is set already (e.g. under ``opentelemetry-instrument``,
    whose exporters keep receiving the spans); else one is created. Returns the processor (flush it
    before reading ``stats``; its ``dropped`` says how many spans ``stats`` never saw), or None when
    the global provider is not the SDK's (nothing can be read back then).
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        trace.set_tracer_provider(provider)
    if not isinstance(provider, TracerProvider):
        return None
    processor = SpanmeterProcessor(
        [], schedule_delay_millis=200, max_queue_size=None if "OTEL_BSP_MAX_QUEUE_SIZE" in os.environ else QUEUE_SIZE
    )
    processor.enricher.add_listener(stats)
    provider.add_span_processor(processor)
    on_import.instrument_libraries(tracer_provider=provider)
    _load_prices()
    return processor


def _load_prices() -> None:
    """Wait for genai-prices' data (~0.2 s) before the load starts: loaded on a thread while the target
    keeps the interpreter busy, it can hold the worker's first batch up for seconds (spanmeter's
    PriceBook.warm_up), and the queue fills meanwhile."""
    from genai_prices import data_snapshot

    data_snapshot.get_snapshot()
