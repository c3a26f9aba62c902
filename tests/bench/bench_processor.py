"""What SpanmeterProcessor costs: the app's thread, the batch worker, and memory.

    python tests/bench/bench_processor.py [--only app,burst,enrich,memory] [--pairs N]
        [--block-spans N] [--burst-spans N] [--burst-rounds N] [--enrich-spans N]
        [--memory-spans N] [--json]

app     App-thread cost per span (start + end of an LLM-shaped span) with
        SpanmeterProcessor vs the SDK's BatchSpanProcessor, both exporting to the
        same no-op exporter, in ABBA-ordered blocks of one process. Each block
        stays below the export batch size, so the worker sleeps while the block is
        timed and drains it afterwards: the figure is what on_start/on_end add to
        the caller. The worker's share is reported apart (``worker µs``).
        Target: ratio <= 1.10.
burst   Spans kept from a burst: one tight loop of 200,000 spans, as fast as the app's
        thread can end them, LLM-shaped (priced, measured) and plain (HTTP-shaped),
        into SpanmeterProcessor and into the SDK's BatchSpanProcessor, each with the
        default batch settings (``OTEL_BSP_*`` unset) in a fresh subprocess, alternating over ``--burst-rounds`` rounds; the share
        exported after shutdown (median per subject). spanmeter's exported + dropped
        must equal the spans created (exact drop count). Target: spanmeter keeps at
        least what the SDK keeps (retention ratio >= 1.0), with the ``app`` ratio above.
enrich  Worker throughput: Enricher.enrich over finished LLM spans (pricing via
        genai-prices, roll-up, anomaly baselines, derived metrics into an SDK
        MeterProvider), in batches of 512 like the batcher's. Baseline in the same
        run: what the SDK takes to start and end the same span with no processor.
        Target: >= 100,000 spans/s (<= 10 µs per span) on one core.
memory  Resident-memory growth while 1,000,000 agent spans, each with a chat span
        of its own model (all names distinct), go through the processor (every
        table bounded), against the SDK's BatchSpanProcessor over the same spans; each in a fresh subprocess, RSS
        read after a warm-up of 50,000 such pairs and at the end. Target: <= 50 MB.

Worker figures are CPU time of the timing thread (``time.thread_time_ns``), so other
processes on a shared machine do not inflate them; the app-thread ratio is wall time in
ABBA order, as the app sees it.

Figures are printed, never asserted (machines are noisy); ``tests/bench/
test_bench_processor_smoke.py`` only checks that the harness produces numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from spanmeter.processing import Enricher, SpanmeterProcessor
from spanmeter.settings import Settings

TARGET_RATIO = 1.10
TARGET_SPANS_PER_S = 100_000
TARGET_RSS_MB = 50.0
WORKER_BATCH = 512
MODELS = [
    ("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"), ("gcp.gemini", "gemini-2.5-flash"), ("openai", "o3"),
]  # fmt: skip


class NoOpExporter(SpanExporter):
    """Exports nowhere; counts spans, so a run can check nothing was dropped."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def llm_attributes(i: int, provider: str, model: str) -> dict:
    """A chat span's attributes as an instrumentation sets them (token counts vary)."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": 800 + (i * 37) % 900,
        "gen_ai.usage.output_tokens": 100 + (i * 13) % 300,
        "gen_ai.usage.cache_read.input_tokens": (i * 7) % 400,
    }


ATTRIBUTES = [llm_attributes(i, *MODELS[i % len(MODELS)]) for i in range(64)]


def _settings() -> Settings:
    return Settings.load(environ={})  # defaults, whatever this shell exports


def _spanmeter_processor(exporter: SpanExporter, **options) -> SpanmeterProcessor:
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return SpanmeterProcessor(exporter, settings=_settings(), meter_provider=meter_provider, **options)


# -- (a) app thread -------------------------------------------------------------------
def _timed_block(provider: TracerProvider, spans: int) -> tuple[float, float]:
    """(µs per span on this thread, µs per span the worker then needs to drain them)."""
    tracer = provider.get_tracer("bench")
    names = [f"chat {attributes['gen_ai.request.model']}" for attributes in ATTRIBUTES]
    count = len(ATTRIBUTES)
    gc.disable()
    start = time.perf_counter_ns()
    for i in range(spans):
        tracer.start_span(names[i % count], attributes=ATTRIBUTES[i % count]).end()
    app_ns = time.perf_counter_ns() - start
    gc.enable()
    start = time.perf_counter_ns()
    provider.force_flush()
    worker_ns = time.perf_counter_ns() - start
    return app_ns / spans / 1e3, worker_ns / spans / 1e3


def app_thread(pairs: int, block_spans: int) -> dict:
    """ABBA blocks: A = BatchSpanProcessor, B = SpanmeterProcessor, same no-op exporter."""
    batch = {
        "max_queue_size": 2 * block_spans + 2,
        "max_export_batch_size": 2 * block_spans + 2,
        "schedule_delay_millis": 600_000,
    }  # fmt: skip - the worker only runs at force_flush
    exporters = {"A": NoOpExporter(), "B": NoOpExporter()}
    providers = {name: TracerProvider() for name in exporters}
    providers["A"].add_span_processor(BatchSpanProcessor(exporters["A"], **batch))
    providers["B"].add_span_processor(_spanmeter_processor(exporters["B"], **batch))
    for name in "AB":  # warm-up: prices resolved, code paths hot
        _timed_block(providers[name], block_spans)
    app = {"A": [], "B": []}
    worker = {"A": [], "B": []}
    ratios = []
    for _ in range(pairs):
        pair = {"A": [], "B": []}
        for name in "ABBA":
            app_us, worker_us = _timed_block(providers[name], block_spans)
            pair[name].append(app_us)
            worker[name].append(worker_us)
        for name in "AB":
            app[name].extend(pair[name])
        ratios.append(statistics.fmean(pair["B"]) / statistics.fmean(pair["A"]))
    for provider in providers.values():
        provider.shutdown()
    expected = (2 * pairs + 1) * block_spans
    return {
        "bsp_us": statistics.median(app["A"]),
        "spanmeter_us": statistics.median(app["B"]),
        "ratio": statistics.median(ratios),
        "ratio_iqr": _iqr(ratios),
        "bsp_worker_us": statistics.median(worker["A"]),
        "spanmeter_worker_us": statistics.median(worker["B"]),
        "dropped": sum(expected - exporter.count for exporter in exporters.values()),
    }


def _iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    quartiles = statistics.quantiles(values, n=4)
    return quartiles[2] - quartiles[0]


# -- (b) bursts ---------------------------------------------------------------------------
BURST_SHAPES = ("llm", "plain")


def _burst_child(subject: str, shape: str, spans: int) -> dict:
    """In a fresh process with default batch settings: end ``spans`` spans in a tight loop."""
    exporter = NoOpExporter()
    processor = _spanmeter_processor(exporter) if subject == "spanmeter" else BatchSpanProcessor(exporter)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")
    if shape == "llm":
        names = [f"chat {attributes['gen_ai.request.model']}" for attributes in ATTRIBUTES]
        attributes = ATTRIBUTES
    else:
        names, attributes = ["GET /items"], [{"http.request.method": "GET", "http.route": "/items"}]
    count = len(names)
    for i in range(spans):
        tracer.start_span(names[i % count], attributes=attributes[i % count]).end()
    provider.shutdown()
    return {"exported": exporter.count, "dropped": getattr(processor, "dropped", None)}


def burst(spans: int, rounds: int) -> dict:
    """Per span shape: median share kept per subject over ``rounds`` alternating subprocess runs."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_BSP_")}
    figures = {}
    for shape in BURST_SHAPES:
        kept: dict[str, list[float]] = {"bsp": [], "spanmeter": []}
        exact = True
        for _ in range(rounds):
            for subject, values in kept.items():
                command = [sys.executable, __file__, "--burst-child", subject, shape, str(spans)]
                run = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False, env=environ)
                if run.returncode != 0:
                    raise RuntimeError(f"burst child {subject} failed:\n{run.stderr}")
                child = json.loads(run.stdout.splitlines()[-1])
                values.append(child["exported"] / spans)
                if subject == "spanmeter":
                    exact = exact and child["exported"] + child["dropped"] == spans
        bsp, spanmeter = statistics.median(kept["bsp"]), statistics.median(kept["spanmeter"])
        figures[shape] = {"bsp_kept": bsp, "spanmeter_kept": spanmeter, "kept_ratio": spanmeter / max(bsp, 1e-9),
                          "rounds": kept, "drops_counted_exactly": exact}  # fmt: skip
    return figures


# -- (c) worker throughput ---------------------------------------------------------------
def _finished_llm_spans(count: int) -> list[ReadableSpan]:
    """Finished chat spans under a few agent spans, as the batcher hands them over."""
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    tracer = provider.get_tracer("bench")
    agents = [tracer.start_span(f"invoke_agent a{i}", attributes={"gen_ai.operation.name": "invoke_agent"})
              for i in range(8)]  # fmt: skip
    spans = []
    for i in range(count):
        attributes = ATTRIBUTES[i % len(ATTRIBUTES)]
        context = trace.set_span_in_context(agents[i % len(agents)])
        span = tracer.start_span(f"chat {attributes['gen_ai.request.model']}", context=context, attributes=attributes)
        span.end()
        spans.append(span._readable_span())
    return spans


def _sdk_span_us(spans: int) -> float:
    """The baseline: starting and ending the same span on a provider with no processor."""
    tracer = TracerProvider().get_tracer("bench")
    start = time.thread_time_ns()
    for i in range(spans):
        tracer.start_span("chat", attributes=ATTRIBUTES[i % len(ATTRIBUTES)]).end()
    return (time.thread_time_ns() - start) / spans / 1e3


def _enrich_us(finished: list[ReadableSpan], meter_provider, repeats: int) -> tuple[float, Enricher]:
    """Median µs per span of Enricher.enrich over ``finished`` in the batcher's batch size."""
    enricher = Enricher.from_settings(_settings(), meter_provider=meter_provider)
    batches = [finished[i : i + WORKER_BATCH] for i in range(0, len(finished), WORKER_BATCH)]
    enricher.enrich(batches[0])  # warm-up: prices resolved once per model
    timings = []
    for _ in range(repeats):
        gc.disable()
        start = time.thread_time_ns()
        for batch in batches:
            enricher.enrich(batch)
        timings.append((time.thread_time_ns() - start) / len(finished) / 1e3)
        gc.enable()
    return statistics.median(timings), enricher


def _sdk_record_us(records: int) -> float:
    """One SDK histogram measurement with the token-usage metric's five attributes."""
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
    histogram = meter.create_histogram("h")
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.token.type": "input",
                  "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini"}  # fmt: skip
    start = time.thread_time_ns()
    for i in range(records):
        histogram.record(i, attributes)
    return (time.thread_time_ns() - start) / records / 1e3


def enrichment(spans: int, repeats: int = 5) -> dict:
    """Per LLM span: the whole enrichment with an SDK MeterProvider (what the product pays),
    and with the API's no-op one (spanmeter's own share: three histogram measurements
    per LLM span -- tokens in, tokens out, duration -- are the SDK's)."""
    finished = _finished_llm_spans(spans)
    enrich_us, enricher = _enrich_us(finished, MeterProvider(metric_readers=[InMemoryMetricReader()]), repeats)
    own_us, _ = _enrich_us(finished, NoOpMeterProvider(), repeats)
    return {
        "enrich_us": enrich_us,
        "spans_per_s": 1e6 / enrich_us,
        "own_us": own_us,
        "sdk_record_us": _sdk_record_us(spans),
        "sdk_span_us": _sdk_span_us(spans),
        "anomaly": enricher.anomaly_detector is not None,
        "priced_by": enricher.enrich(finished[:1])[0].attributes.get("spanmeter.cost.source"),
    }


# -- (d) memory --------------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _memory_child(subject: str, spans: int, warmup: int) -> dict:
    """In a fresh process: RSS growth while ``spans`` distinct names/models pass ``subject``."""
    exporter = NoOpExporter()
    provider = TracerProvider()
    processor = _spanmeter_processor(exporter) if subject == "spanmeter" else BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")

    def run(first: int, last: int) -> None:
        for i in range(first, last):
            model = f"model-{i}"
            with tracer.start_as_current_span(f"invoke_agent agent-{i}", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"agent-{i}",
            }):  # fmt: skip
                tracer.start_span(f"chat {model}", attributes=llm_attributes(i, f"provider-{i % 7}", model)).end()
            if i % 512 == 0:
                provider.force_flush()  # keep the queue from dropping: every span is processed
        provider.force_flush()

    run(0, warmup)
    gc.collect()
    before = _rss_mb()
    run(warmup, warmup + spans)
    gc.collect()
    after = _rss_mb()
    provider.shutdown()
    return {"rss_before_mb": before, "rss_growth_mb": after - before, "exported": exporter.count}


def memory(spans: int, warmup: int) -> dict:
    figures = {}
    for subject in ("bsp", "spanmeter"):
        command = [sys.executable, __file__, "--memory-child", subject, str(spans), str(warmup)]
        run = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"memory child {subject} failed:\n{run.stderr}")
        figures[subject] = json.loads(run.stdout.splitlines()[-1])
    return {
        "spanmeter_growth_mb": figures["spanmeter"]["rss_growth_mb"],
        "bsp_growth_mb": figures["bsp"]["rss_growth_mb"],
        "spanmeter_exported": figures["spanmeter"]["exported"],
        "expected_exported": 2 * (spans + warmup),
    }


# -- command -----------------------------------------------------------------------------
def _verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="app,burst,enrich,memory")
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--block-spans", type=int, default=2000)
    parser.add_argument("--burst-spans", type=int, default=200_000)
    parser.add_argument("--burst-rounds", type=int, default=3)
    parser.add_argument("--enrich-spans", type=int, default=50_000)
    parser.add_argument("--memory-spans", type=int, default=1_000_000)
    parser.add_argument("--memory-warmup", type=int, default=50_000)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--burst-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        subject, spans, warmup = args.memory_child
        print(json.dumps(_memory_child(subject, int(spans), int(warmup))))
        return 0
    if args.burst_child:
        subject, shape, spans = args.burst_child
        print(json.dumps(_burst_child(subject, shape, int(spans))))
        return 0
    parts = {part.strip() for part in args.only.split(",")}
    results = {}
    if "app" in parts:
        r = results["app"] = app_thread(args.pairs, args.block_spans)
        print(f"app thread, µs/span ({args.pairs} ABBA pairs x {args.block_spans} spans):")
        print(f"  BatchSpanProcessor {r['bsp_us']:7.2f}   worker {r['bsp_worker_us']:6.2f}")
        print(f"  SpanmeterProcessor {r['spanmeter_us']:7.2f}   worker {r['spanmeter_worker_us']:6.2f}")
        print(f"  ratio {r['ratio']:.3f} (IQR {r['ratio_iqr']:.3f}), target <= {TARGET_RATIO}: "
              f"{_verdict(r['ratio'] <= TARGET_RATIO)}; dropped spans {r['dropped']}")  # fmt: skip
    if "burst" in parts:
        results["burst"] = burst(args.burst_spans, args.burst_rounds)
        print(f"burst ({args.burst_spans:,} spans in a tight loop, default batch settings, "
              f"median of {args.burst_rounds} rounds), share kept:")  # fmt: skip
        for shape, r in results["burst"].items():
            print(f"  {shape:<5} BatchSpanProcessor {r['bsp_kept']:6.1%}, SpanmeterProcessor {r['spanmeter_kept']:6.1%}; "
                  f"ratio {r['kept_ratio']:.2f}, target >= 1.0: {_verdict(r['kept_ratio'] >= 1.0)}; "
                  f"exported + dropped == created: {r['drops_counted_exactly']}")  # fmt: skip
    if "enrich" in parts:
        r = results["enrich"] = enrichment(args.enrich_spans)
        print(f"worker enrichment ({args.enrich_spans} LLM spans, priced by {r['priced_by']}, "
              f"anomaly {'on' if r['anomaly'] else 'absent'}):")  # fmt: skip
        print(f"  {r['enrich_us']:.2f} µs/span = {r['spans_per_s']:,.0f} spans/s, target >= {TARGET_SPANS_PER_S:,}: "
              f"{_verdict(r['spans_per_s'] >= TARGET_SPANS_PER_S)}")  # fmt: skip
        print(f"  of which spanmeter's own work {r['own_us']:.2f} µs (metrics into a no-op MeterProvider); "
              f"one SDK histogram measurement costs {r['sdk_record_us']:.2f} µs")  # fmt: skip
        print(f"  baseline: the SDK starts and ends the span in {r['sdk_span_us']:.2f} µs "
              f"(enrichment = {r['enrich_us'] / r['sdk_span_us']:.2f}x that, own work "
              f"{r['own_us'] / r['sdk_span_us']:.2f}x)")  # fmt: skip
    if "memory" in parts:
        r = results["memory"] = memory(args.memory_spans, args.memory_warmup)
        print(f"memory ({args.memory_spans:,} distinct span names and models after {args.memory_warmup:,} warm-up):")
        print(f"  RSS growth SpanmeterProcessor {r['spanmeter_growth_mb']:.1f} MB, "
              f"BatchSpanProcessor {r['bsp_growth_mb']:.1f} MB; target <= {TARGET_RSS_MB:.0f} MB: "
              f"{_verdict(r['spanmeter_growth_mb'] <= TARGET_RSS_MB)}; "
              f"exported {r['spanmeter_exported']:,}/{r['expected_exported']:,}")  # fmt: skip
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
